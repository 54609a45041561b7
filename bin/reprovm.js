#!/usr/bin/env node
// More libuv threads than the default 4: fsyncs of cache writes would otherwise queue
// behind each other and stall every other file operation of a busy run. Must be set before
// the first asynchronous file operation; an explicit setting wins.
process.env.UV_THREADPOOL_SIZE ??= '16';

function notBuilt(err) {
  return err && err.code === 'ERR_MODULE_NOT_FOUND' && /dist\/(cli|fast-noop)\.js/.test(String(err.message));
}

try {
  // A plain build whose workspace is provably up to date is answered without loading the CLI
  // proper (src/cli/fast-noop.ts); everything else goes to the full CLI.
  const { tryFastNoop } = await import('../dist/fast-noop.js');
  const code = await tryFastNoop(process.argv.slice(2), process);
  if (code !== undefined) process.exit(code);
  await import('../dist/cli.js');
} catch (err) {
  if (!notBuilt(err)) throw err;
  process.stderr.write('reprovm: the CLI is not built; run `npm run build` (npm ci does it for you)\n');
  process.exit(2);
}
