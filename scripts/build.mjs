// Bundles the CLI into dist/ with esbuild. One bundle (plus lazily loaded chunks) keeps
// start-up close to a bare `node -e 0`: a no-op build is dominated by module loading otherwise.
// Type checking is separate (`npm run typecheck`), so a build never waits for tsc.
import { build } from 'esbuild';
import { readFileSync, renameSync, rmSync } from 'node:fs';

// Build into a scratch directory and swap it in, so a CLI started during a rebuild sees a whole
// dist/ (old or new), never a half-written one.
const scratch = `dist.tmp-${process.pid}`;
await build({
  entryPoints: { cli: 'src/cli/main.ts', 'fast-noop': 'src/cli/fast-noop.ts' },
  outdir: scratch,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Smaller source parses faster at start-up; the source map keeps stack traces readable.
  minify: !process.env.NO_MINIFY,
  keepNames: true,
  // ES module builds first where a package has one (the AWS SDK does): esbuild can drop what
  // is never imported from those, which it cannot do for CommonJS (see src/remote/s3-sdk.ts).
  mainFields: ['module', 'main'],
  alias: { 'graceful-fs': './scripts/shims/graceful-fs.cjs' },
  // Native addons and the cloud SDKs stay in node_modules and load on first use.
  // The same for the server/metrics/backup stacks, which only their own subcommands load.
  external: [
    'zstd-napi', 'lz4-napi', '@google-cloud/*', '@azure/*',
    'fastify', 'fastify-openapi-glue', '@fastify/*', 'pino', 'prom-client', 'croner', 'tar', 'yaml',
  ],
  // CommonJS dependencies inside an ESM bundle call require() for Node built-ins.
  banner: { js: "import { createRequire as __reprovmCreateRequire } from 'node:module'; const require = __reprovmCreateRequire(import.meta.url);" },
  define: { REPROVM_VERSION: JSON.stringify(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version) },
  logLevel: 'warning',
});
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
renameSync(new URL(`../${scratch}`, import.meta.url), new URL('../dist', import.meta.url));
