/**
 * `diagon up`: the local cluster (cluster/), until Ctrl-C; with --demo (what `npm start`
 * runs), a governed tour of a demo pool once it is ready.
 */
import { Command } from 'commander';
import { DiagonError } from '../libs/db/errors.js';
import { type Cluster, startCluster } from './cluster/cluster.js';
import { runDemo } from './demo.js';

const port = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new DiagonError('cli/bad-argument', `${what} is a port number (0-65535), not ${v}`);
  return n;
};

export function upCommand(): Command {
  return new Command('up')
    .description(
      'run the whole cluster locally: Postgres (DATABASE_URL, else embedded), NATS (NATS_URL, else nats-server from PATH, else in-process), auth, consensus, indexer, a transactor per pool',
    )
    .option('--data <dir>', 'keys and embedded data', '.diagon')
    .option('--tcp-port <port>', 'wire protocol port', port('--tcp-port'), 7420)
    .option('--http-port <port>', 'HTTP API port', port('--http-port'), 7421)
    .option('--pg-port <port>', 'embedded Postgres port', port('--pg-port'), 5433)
    .option('--nats-port <port>', 'spawned nats-server port', port('--nats-port'), 4223)
    .option('--single-process', 'every service in this process on the in-process bus')
    .option('--demo', 'once ready, run the demo: a governed pool, queries, as-of')
    .action(
      async (o: {
        data: string;
        tcpPort: number;
        httpPort: number;
        pgPort: number;
        natsPort: number;
        singleProcess?: boolean;
        demo?: boolean;
      }) => {
        const started = Date.now();
        const cluster = await startCluster({
          dataDir: o.data,
          tcpPort: o.tcpPort,
          httpPort: o.httpPort,
          pgPort: o.pgPort,
          natsPort: o.natsPort,
          singleProcess: o.singleProcess === true,
        });
        console.log(
          `\ncluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${cluster.mode})`,
        );
        const stopping = waitForSignal(cluster);
        if (o.demo)
          await runDemo(cluster).catch((e: unknown) =>
            console.error(`demo failed: ${(e as Error).message}`),
          );
        printNext(cluster);
        await stopping;
      },
    );
}

function printNext(c: Cluster): void {
  console.log(`
  HTTP API     ${c.httpUrl}   (OpenAPI: ${c.httpUrl}/openapi.json)
  wire (TCP)   ${c.tcpAddress}
  Postgres     ${c.databaseUrl}
  NATS         ${c.natsUrl ?? '(in-process bus)'}
  metrics      ${[...c.ops].map(([name, url]) => `${name} ${url}/metrics`).join('\n               ')}

  next:  npx diagon keygen && npx diagon pool create mine && npx diagon login --pool mine
         npx diagon q '[:find ?n ?p :where [?c :city/name ?n] [?c :city/population ?p]]' --pool demo --key ${c.dataDir}/keys/demo-ann.key
  Ctrl-C stops the cluster; the data stays in ${c.dataDir}.`);
}

function waitForSignal(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${signal}: stopping the cluster…`);
      void cluster.stop().then(() => {
        console.log('stopped.');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
