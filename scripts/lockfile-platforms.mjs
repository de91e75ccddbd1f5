#!/usr/bin/env node
/**
 * Completes package-lock.json with the platform-specific optional packages that the
 * registry mirror of our build machines does not serve (e.g. @biomejs/cli-win32-x64).
 * Without their entries `npm ci` refuses the lock as out of sync; with them it skips them
 * on other platforms as usual. Run after `npm install` changes the lock:
 *   node scripts/lockfile-platforms.mjs
 */
import { readFileSync, writeFileSync } from 'node:fs';

const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'netbsd',
  'openbsd',
  'sunos',
  'win32',
  'aix',
  'openharmony',
];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const added = [];
for (const [key, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (lock.packages[target] !== undefined) continue;
    const parts = name.split(/[/-]/);
    const os = OS.filter((o) => parts.includes(o));
    const cpu = CPU.filter((c) => parts.includes(c));
    if (os.length === 0 || cpu.length === 0) {
      console.error(
        `${name} (from ${key || 'the root'}) is missing and does not name a platform: install it`,
      );
      process.exitCode = 1;
      continue;
    }
    lock.packages[target] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os,
      cpu,
      ...(parts.includes('musl') ? { libc: ['musl'] } : {}),
    };
    added.push(name);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length === 0 ? 'lock file complete' : `added ${added.length}: ${added.join(', ')}`,
);
