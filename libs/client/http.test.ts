import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { KeyPair } from '../identity/index.js';
import { DiagonHttp } from './http.js';

const key = KeyPair.generate();

describe('DiagonHttp', () => {
  it('says which URL cannot be reached and how to start the cluster', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const refused = DiagonHttp.login({ url: `${url}/`, pool: 'demo', key });
    await expect(refused).rejects.toMatchObject({
      code: 'client/unreachable',
      message: `cannot reach Diagon at ${url}: ECONNREFUSED; is the cluster up? Start it with \`diagon up\`.`,
    });
  });

  it("throws the problem's code and detail, and a deadline's end as client/timeout", async () => {
    const server = createServer((req, res) => {
      if (req.url === '/v1/auth/challenge') {
        res.writeHead(403, { 'content-type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            type: 'https://diagon.dev/problems/not-member',
            title: 'Forbidden',
            status: 403,
            detail: 'not a member of demo',
            code: 'not-member',
          }),
        );
      }
      // Any other request is left unanswered.
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(DiagonHttp.login({ url, pool: 'demo', key })).rejects.toMatchObject({
        code: 'not-member',
        message: 'not a member of demo',
        data: { status: 403 },
      });
      const slow = DiagonHttp.createPool({ url, key, pool: 'demo', members: [], timeoutMs: 100 });
      await expect(slow).rejects.toMatchObject({ code: 'client/timeout' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
