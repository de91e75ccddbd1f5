#!/usr/bin/env node
/**
 * `diagon`: the command line. Every command takes --help and --json; errors print what to
 * do and exit 1. Commands that talk to a pool go through the edge's HTTP API
 * (libs/client DiagonHttp), signing proposals and votes locally with the key file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import { DiagonHttp } from '../libs/client/index.js';
import { DiagonError, isDiagonError } from '../libs/db/errors.js';
import { KeyPair, saveKeyFile } from '../libs/identity/index.js';
import { verifyExport } from '../services/consensus/verify.js';
import { captureCommand } from './capture.js';
import { type GlobalFlags, loadKey, requirePool, resolveConfig, saveConfig } from './config.js';
import { importCommand } from './import.js';
import { upCommand } from './up.js';

const program = new Command('diagon')
  .description('Diagon: a governed, temporal Datalog database. Run diagon up, then diagon keygen.')
  .option('--url <url>', 'the edge (auth service HTTP) URL [env DIAGON_URL]')
  .option('--pool <name>', 'the pool [env DIAGON_POOL]')
  .option('--key <file>', 'your key file [env DIAGON_KEY]')
  .option('--json', 'print JSON instead of text')
  .showHelpAfterError('(run with --help for usage)');

const flags = (): GlobalFlags => program.opts<GlobalFlags>();

/** Prints `value` as JSON with --json, else `text(value)`. */
function print<T>(value: T, text: (v: T) => string): void {
  console.log(flags().json ? JSON.stringify(value, null, 2) : text(value));
}

async function session(): Promise<DiagonHttp> {
  const c = resolveConfig(flags());
  return DiagonHttp.login({ url: c.url, pool: requirePool(c), key: await loadKey(c) });
}

const int = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new DiagonError('cli/bad-argument', `${what} must be a whole number, not ${v}`);
  return n;
};

function readInput(file: string): string {
  if (file === '-') return readFileSync(0, 'utf8');
  if (!existsSync(file)) throw new DiagonError('cli/no-file', `no such file: ${file}`);
  return readFileSync(file, 'utf8');
}

program
  .command('keygen')
  .description('create a key file (ed25519) and print its DID')
  .option('-o, --out <file>', 'where to write it (default: --key, else .diagon/keys/me.key)')
  .option('--force', 'replace an existing file')
  .action(async (o: { out?: string; force?: boolean }) => {
    const path = o.out ?? resolveConfig(flags()).key;
    if (existsSync(path) && !o.force)
      throw new DiagonError(
        'cli/exists',
        `${path} exists: pass --force to replace it, or --out FILE`,
      );
    const key = KeyPair.generate();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await saveKeyFile(path, key, { overwrite: o.force === true });
    print({ did: key.did, file: path }, (v) => `${v.did}\n(key written to ${v.file}, mode 0600)`);
  });

program.addCommand(upCommand());

const pool = program.command('pool').description('create and inspect pools');
pool
  .command('create <name>')
  .description('create a pool; you are its first member (the edge must allow it: diagon up does)')
  .option('-m, --member <did...>', 'more members')
  .option('--observer <did...>', 'members who read but do not vote')
  .option('--threshold <n/d>', 'quorum: more than this fraction says yes (default 2/3)')
  .option('--no-proposer-votes', 'the proposer does not count as a yes vote')
  .option('--ttl <ms>', 'proposal time-to-live', int('--ttl'))
  .action(
    async (
      name: string,
      o: {
        member?: string[];
        observer?: string[];
        threshold?: string;
        proposerVotes: boolean;
        ttl?: number;
      },
    ) => {
      const c = resolveConfig(flags());
      const key = await loadKey(c);
      let threshold: { num: number; den: number } | undefined;
      if (o.threshold !== undefined) {
        const m = /^(\d+)\/(\d+)$/.exec(o.threshold);
        if (m === null)
          throw new DiagonError(
            'cli/bad-argument',
            `--threshold is a fraction like 2/3, not ${o.threshold}`,
          );
        threshold = { num: Number(m[1]), den: Number(m[2]) };
      }
      const members = [
        { did: key.did, role: 'member' as const },
        ...(o.member ?? [])
          .filter((d) => d !== key.did)
          .map((did) => ({ did, role: 'member' as const })),
        ...(o.observer ?? []).map((did) => ({ did, role: 'observer' as const })),
      ];
      const r = await DiagonHttp.createPool({
        url: c.url,
        key,
        pool: name,
        members,
        policy: {
          ...(threshold === undefined ? {} : { threshold }),
          proposerVotes: o.proposerVotes,
          ...(o.ttl === undefined ? {} : { ttlMs: o.ttl }),
        },
      });
      print(
        r,
        () =>
          `created pool ${name} with ${members.length} member(s); next: diagon login --pool ${name}`,
      );
    },
  );
pool
  .command('list')
  .description('the pools you are a member of')
  .action(async () => {
    const pools = await (await session()).pools();
    print(
      pools,
      (ps) =>
        ps.map((p) => `${p.pool}\tt=${p.basisT}\t${p.members} member(s)`).join('\n') || '(none)',
    );
  });
pool
  .command('show [name]')
  .description('basis t, head hash, members and policy of a pool')
  .action(async (name?: string) => {
    if (name !== undefined) program.setOptionValue('pool', name);
    const info = await (await session()).info();
    print(info, (i) =>
      [
        `pool ${i.pool}: basis t ${i.basisT}, head ${i.headHash ?? '(empty)'}`,
        `policy ${JSON.stringify(i.policy)}`,
        ...i.members.map((m) => `  ${m.role.padEnd(8)} ${m.did}`),
      ].join('\n'),
    );
  });

const members = program
  .command('members')
  .description('propose membership changes (members vote on them)');
members
  .command('add <did>')
  .description('propose adding a member')
  .option('--observer', 'as an observer (reads, does not vote)')
  .action(async (did: string, o: { observer?: boolean }) => {
    const txData = JSON.stringify({ add: [{ did, role: o.observer ? 'observer' : 'member' }] });
    const r = await (await session()).propose(txData, { kind: 'membership' });
    print(
      r,
      (v) =>
        `proposed adding ${did}: ${v.id} (${v.status}); members vote with diagon vote ${v.id} yes --why TEXT`,
    );
  });
members
  .command('remove <did>')
  .description('propose removing a member')
  .action(async (did: string) => {
    const r = await (await session()).propose(JSON.stringify({ remove: [did] }), {
      kind: 'membership',
    });
    print(r, (v) => `proposed removing ${did}: ${v.id} (${v.status})`);
  });

program
  .command('login')
  .description(
    'check your key against a pool and remember --url, --pool and --key in .diagon/cli.json',
  )
  .action(async () => {
    const c = resolveConfig(flags());
    const s = await DiagonHttp.login({ url: c.url, pool: requirePool(c), key: await loadKey(c) });
    const path = saveConfig(c);
    print(
      { did: s.did, pool: s.pool, url: c.url, config: path },
      (v) => `logged in to ${v.pool} at ${v.url} as ${v.did} (saved in ${v.config})`,
    );
  });

program
  .command('propose <file>')
  .description('propose tx-data (EDN) from a file, or - for stdin')
  .addOption(
    new Option('--kind <kind>', 'what the proposal changes')
      .choices(['knowledge', 'proposal', 'prune', 'membership'])
      .default('knowledge'),
  )
  .action(async (file: string, o: { kind: 'knowledge' | 'proposal' | 'prune' | 'membership' }) => {
    const r = await (await session()).propose(readInput(file), { kind: o.kind });
    print(r, (v) => `proposal ${v.id}: ${v.status}`);
  });

program
  .command('proposals')
  .description("the pool's proposals")
  .option('--open', 'only the open ones')
  .action(async (o: { open?: boolean }) => {
    const list = await (await session()).proposals({ status: o.open ? 'open' : 'all' });
    print(
      list,
      (ps) =>
        ps.map((p) => `${p.id}\t${p.status}\t${p.kind}\t${p.proposer}`).join('\n') || '(none)',
    );
  });

program
  .command('vote <proposal> <support>')
  .description('vote yes or no on a proposal, with your reasons')
  .requiredOption('--why <text>', 'why you vote so (its hash is signed; the text is kept)')
  .action(async (proposal: string, support: string, o: { why: string }) => {
    if (support !== 'yes' && support !== 'no')
      throw new DiagonError('cli/bad-argument', `vote yes or no, not ${support}`);
    const r = await (await session()).vote(proposal, support === 'yes', o.why);
    print(r, (v) => `voted ${support} on ${proposal}: ${v.status}`);
  });

program
  .command('q <query>')
  .description("run a Datalog query (EDN), e.g. diagon q '[:find ?n :where [?e :name ?n]]'")
  .option('--args <edn>', 'inputs after $, as an EDN vector')
  .option('--as-of <t>', 'the database as of basis t', int('--as-of'))
  .option('--since <t>', 'only datoms added after t', int('--since'))
  .option('--history', 'every assertion and retraction')
  .action(
    async (
      query: string,
      o: { args?: string; asOf?: number; since?: number; history?: boolean },
    ) => {
      const edn = await (await session()).q(query, o);
      print({ edn }, (v) => v.edn);
    },
  );

program
  .command('pull <pattern> <eid>')
  .description("pull an entity's attributes, e.g. diagon pull '[*]' '[:name \"Ann\"]'")
  .option('--as-of <t>', 'as of basis t', int('--as-of'))
  .action(async (pattern: string, eid: string, o: { asOf?: number }) => {
    const edn = await (await session()).pull(pattern, eid, o);
    print({ edn }, (v) => v.edn);
  });

program
  .command('log')
  .description('committed transactions')
  .option('--from <t>', 'after basis t', int('--from'))
  .option('--to <t>', 'up to basis t', int('--to'))
  .action(async (o: { from?: number; to?: number }) => {
    const entries = await (await session()).log(o);
    print(
      entries,
      (es) =>
        es
          .map((e) => `t=${e.t}\t${e.instant}\t${e.hash.slice(0, 16)}…\t${e.proposal}`)
          .join('\n') || '(empty)',
    );
  });

program
  .command('watch')
  .description('print transactions and proposal events as they happen (Ctrl-C stops)')
  .action(async () => {
    const s = await session();
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    if (!flags().json) console.error(`watching ${s.pool}; Ctrl-C stops`);
    await s.watch((e) => print(e, (v) => `${v.event}\t${JSON.stringify(v.data)}`), abort.signal);
  });

program.addCommand(importCommand(session, flags));

program
  .command('export [pool]')
  .description('the whole pool (log, certificates, votes, checkpoints) as JSON, for diagon verify')
  .option('-o, --out <file>', 'write to a file instead of stdout')
  .action(async (name: string | undefined, o: { out?: string }) => {
    if (name !== undefined) program.setOptionValue('pool', name);
    const x = await (await session()).exportPool();
    const text = JSON.stringify(x);
    if (o.out === undefined) console.log(text);
    else {
      writeFileSync(o.out, text);
      console.error(`exported ${x.pool} to ${o.out}`);
    }
  });

program
  .command('verify <export>')
  .description(
    'check an export offline: signatures, quorum, hash chain, Merkle log and checkpoints',
  )
  .action((file: string) => {
    let x: unknown;
    try {
      x = JSON.parse(readInput(file));
    } catch (e) {
      if (isDiagonError(e)) throw e;
      throw new DiagonError('cli/bad-export', `${file} is not JSON: ${(e as Error).message}`);
    }
    const r = verifyExport(x as Parameters<typeof verifyExport>[0]);
    print(
      r,
      (v) =>
        `verified: ${v.transactions} transactions, ${v.votes} votes, ${v.leaves} log leaves, ${v.checkpoints} checkpoints`,
    );
  });

program.addCommand(captureCommand(flags));

program.parseAsync(process.argv).catch((e: unknown) => {
  if (isDiagonError(e)) {
    if (flags().json) console.error(JSON.stringify({ error: e.code, message: e.message }));
    else console.error(`error: ${e.message}`);
  } else console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
