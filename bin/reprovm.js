#!/usr/bin/env node
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('reprovm: the CLI is not built; run `npm run build` (npm ci does it for you)\n');
    process.exit(2);
  }
  throw err;
});
