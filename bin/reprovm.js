#!/usr/bin/env node
// More libuv threads than the default 4: fsyncs of cache writes would otherwise queue
// behind each other and stall every other file operation of a busy run. Must be set before
// the first asynchronous file operation; an explicit setting wins.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('reprovm: the CLI is not built; run `npm run build` (npm ci does it for you)\n');
    process.exit(2);
  }
  throw err;
});
