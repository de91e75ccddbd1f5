/**
 * Checks HTTP answers against an OpenAPI 3.1 document: the route (path template and
 * method) must document the status, and the body must match the schema of its content type
 * (ajv, JSON Schema 2020-12, with formats). `validatingFetch` wraps `fetch` so every answer
 * a test receives is checked, whoever made the request.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

interface Doc {
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
}

const pointer = (...parts: string[]) =>
  parts.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

export interface OpenApiCheck {
  /** Throws unless `status` is documented for the route and `body` fits its schema. */
  check(method: string, pathname: string, status: number, contentType: string, body: unknown): void;
  /** How many answers were checked. */
  readonly checked: number;
}

export function openApiCheck(doc: Doc): OpenApiCheck {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  // Literal segments win over parameters: /proposals/prepare before /proposals/{id}.
  const routes = Object.keys(doc.paths)
    .map((t) => ({ t, re: new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`) }))
    .sort((a, b) => b.t.replace(/\{[^}]+\}/g, '').length - a.t.replace(/\{[^}]+\}/g, '').length);
  let checked = 0;
  return {
    get checked() {
      return checked;
    },
    check(method, pathname, status, contentType, body) {
      const m = method.toLowerCase();
      const route = routes.find((r) => r.re.test(pathname) && doc.paths[r.t]?.[m] !== undefined);
      if (route === undefined)
        throw new Error(`${method} ${pathname} is not in the OpenAPI document`);
      const responses = doc.paths[route.t]![m]!.responses ?? {};
      if (!(String(status) in responses))
        throw new Error(
          `${method} ${route.t} does not document status ${status}: ${JSON.stringify(body)}`,
        );
      const type = contentType.split(';')[0]!.trim();
      const where = pointer(
        'paths',
        route.t,
        m,
        'responses',
        String(status),
        'content',
        type,
        'schema',
      );
      const validate = ajv.getSchema(`openapi#/${where}`);
      if (validate === undefined)
        throw new Error(`${method} ${route.t} ${status} documents no ${type} body`);
      if (!validate(body))
        throw new Error(
          `${method} ${pathname} ${status}: the body does not fit the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
        );
      checked++;
    },
  };
}

/** `fetch` that checks every answer (event streams: the status and content type only). */
export function validatingFetch(api: OpenApiCheck): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const type = res.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      api.check(method, url.pathname, res.status, type, '');
      return res;
    }
    const text = await res.clone().text();
    api.check(method, url.pathname, res.status, type, text === '' ? undefined : JSON.parse(text));
    return res;
  };
}
