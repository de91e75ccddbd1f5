/**
 * Where the CLI finds its cluster, pool and key: flags first, then the environment
 * (`DIAGON_URL`, `DIAGON_POOL`, `DIAGON_KEY`), then the config file (`DIAGON_CONFIG`, else
 * `.diagon/cli.json`, which `diagon login` writes), then the local cluster's defaults.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DiagonError } from '../libs/db/errors.js';
import { type KeyPair, loadKeyFile } from '../libs/identity/index.js';

export interface CliConfig {
  url: string;
  pool?: string;
  key: string;
}

export interface GlobalFlags {
  url?: string;
  pool?: string;
  key?: string;
  json?: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:7421';
export const DEFAULT_KEY = '.diagon/keys/me.key';

export function configPath(): string {
  return resolve(process.env.DIAGON_CONFIG ?? '.diagon/cli.json');
}

function readConfigFile(): Partial<CliConfig> {
  const path = configPath();
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<CliConfig>;
  } catch (e) {
    throw new DiagonError(
      'cli/bad-config',
      `${path} is not valid JSON (${(e as Error).message}): fix it or delete it and run diagon login again`,
    );
  }
}

export function resolveConfig(flags: GlobalFlags): CliConfig {
  const file = readConfigFile();
  const pool = flags.pool ?? process.env.DIAGON_POOL ?? file.pool;
  return {
    url: flags.url ?? process.env.DIAGON_URL ?? file.url ?? DEFAULT_URL,
    ...(pool === undefined ? {} : { pool }),
    key: flags.key ?? process.env.DIAGON_KEY ?? file.key ?? DEFAULT_KEY,
  };
}

export function saveConfig(c: CliConfig): string {
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(c, null, 2)}\n`);
  return path;
}

export function requirePool(c: CliConfig): string {
  if (c.pool === undefined)
    throw new DiagonError(
      'cli/no-pool',
      'which pool? Pass --pool NAME, set DIAGON_POOL, or run diagon login --pool NAME once',
    );
  return c.pool;
}

export async function loadKey(c: CliConfig): Promise<KeyPair> {
  if (!existsSync(c.key))
    throw new DiagonError(
      'cli/no-key',
      `no key file at ${c.key}: create one with diagon keygen (or pass --key FILE)`,
    );
  return loadKeyFile(c.key);
}
