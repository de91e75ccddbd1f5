/**
 * `diagon import FILE`: bulk tx-data (an EDN vector of tx forms, or a JSON array of
 * EDN strings or of maps) proposed in batches through governance, with a progress bar.
 * Each batch is one proposal; with --vote-keys the given local keys vote yes on each (a
 * pool whose quorum one member reaches needs none).
 */
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { DiagonHttp } from '../libs/client/index.js';
import { DiagonError } from '../libs/db/errors.js';
import { parseEdn, printEdn } from '../libs/db/index.js';
import { loadKeyFile } from '../libs/identity/index.js';
import type { GlobalFlags } from './config.js';

/** The file's tx forms, each as EDN text. */
export function txForms(text: string, file: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') && /^\[\s*["{]/.test(trimmed)) {
    try {
      const json = JSON.parse(trimmed) as unknown[];
      return json.map((x) => (typeof x === 'string' ? x : ednOfJson(x)));
    } catch {}
  }
  let v: unknown;
  try {
    v = parseEdn(trimmed);
  } catch (e) {
    throw new DiagonError(
      'cli/bad-import',
      `${file} is neither a JSON array nor EDN: ${(e as Error).message}`,
    );
  }
  if (!Array.isArray(v))
    throw new DiagonError(
      'cli/bad-import',
      `${file} must hold a vector of tx forms, e.g. [{:name "Ann"} [:db/add -1 :name "Bob"]]`,
    );
  return v.map((x) => printEdn(x));
}

/** A JSON object as an EDN map: keys become keywords (`"person/name"` → `:person/name`). */
function ednOfJson(x: unknown): string {
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    throw new DiagonError(
      'cli/bad-import',
      'a JSON import holds objects (entity maps) or EDN strings',
    );
  const entries = Object.entries(x as Record<string, unknown>).map(
    ([k, v]) => `:${k.replace(/^:/, '')} ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`,
  );
  return `{${entries.join(' ')}}`;
}

export function importCommand(
  session: () => Promise<DiagonHttp>,
  flags: () => GlobalFlags,
): Command {
  return new Command('import')
    .description('propose a file of tx-data in batches (EDN vector or JSON array), with progress')
    .argument('<file>')
    .option('--batch <n>', 'tx forms per proposal', '500')
    .option('--vote-keys <files...>', "other members' key files that vote yes on each batch")
    .action(async (file: string, o: { batch: string; voteKeys?: string[] }) => {
      const size = Number(o.batch);
      if (!Number.isInteger(size) || size < 1)
        throw new DiagonError(
          'cli/bad-argument',
          `--batch is a positive whole number, not ${o.batch}`,
        );
      const forms = txForms(readFileSync(file, 'utf8'), file);
      const s = await session();
      const voters = await Promise.all(
        (o.voteKeys ?? []).map(async (f) =>
          DiagonHttp.login({ url: s.url, pool: s.pool, key: await loadKeyFile(f) }),
        ),
      );
      const batches = Math.ceil(forms.length / size);
      const bar = flags().json
        ? null
        : new SingleBar({
            format: 'import [{bar}] {value}/{total} batches | {eta}s left | {status}',
          });
      bar?.start(batches, 0, { status: '' });
      const results: { id: string; status: string }[] = [];
      for (let i = 0; i < forms.length; i += size) {
        const p = await s.propose(`[${forms.slice(i, i + size).join('\n')}]`);
        let status = p.status;
        for (const v of voters) status = (await v.vote(p.id, true, `import of ${file}`)).status;
        results.push({ id: p.id, status });
        bar?.increment(1, { status });
      }
      bar?.stop();
      if (flags().json)
        console.log(JSON.stringify({ forms: forms.length, proposals: results }, null, 2));
      else
        console.log(
          `${forms.length} tx forms in ${results.length} proposal(s): ${[...new Set(results.map((r) => r.status))].join(', ')}`,
        );
    });
}
