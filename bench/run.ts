/**
 * `npm run bench -- NAME`: runs one benchmark (or `all`). Each compares Diagon against a
 * baseline in the same run and prints the ratio.
 */
const BENCHES: Record<string, () => Promise<{ run: () => unknown }>> = {
  transact: () => import('./transact.js'),
  stm: () => import('./stm.js'),
  query: () => import('./query.js'),
  auth: () => import('./auth.js'),
  durable: () => import('./durable.js'),
  consensus: () => import('./consensus.js'),
  capture: () => import('./capture.js'),
  e2e: () => import('./e2e.js'),
};

async function main(): Promise<void> {
  const name = process.argv[2];
  if (
    name === undefined ||
    name === '--help' ||
    name === '-h' ||
    (name !== 'all' && !(name in BENCHES))
  ) {
    console.log(
      `usage: npm run bench -- NAME\n\nbenchmarks: ${Object.keys(BENCHES).join(', ')}, all`,
    );
    process.exitCode = name === undefined || name.startsWith('-') ? 0 : 2;
    return;
  }
  const names = name === 'all' ? Object.keys(BENCHES) : [name];
  for (const n of names) {
    const mod = await BENCHES[n]!();
    await mod.run();
  }
}

await main();
