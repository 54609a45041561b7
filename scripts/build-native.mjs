// Builds the optional native spawner (native/spawn.c → build/Release/reprovm_spawn.node) with
// the node-gyp that npm bundles. It is optional: reprovm falls back to child_process.spawn
// without it, so a failed build is a warning and this script always exits 0. Runs from the
// `install` script (so `npm ci` builds it) and by hand with `npm run build:native`.
// Set REPROVM_SKIP_NATIVE=1 to skip it. node-gyp gets the headers of the running Node
// (npm_config_nodedir, as CI sets it, or <prefix>/include/node) so that nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const say = (line) => process.stderr.write(`reprovm: ${line}\n`);

/** npm passes its node-gyp to lifecycle scripts; by hand, look next to this Node's npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c !== undefined && c !== '' && existsSync(c));
}

function main() {
  if (process.env.REPROVM_SKIP_NATIVE === '1') return;
  if (process.platform !== 'linux') return; // posix_spawn + pidfd: Linux only; others use child_process
  const gyp = findNodeGyp();
  if (gyp === undefined) {
    say('warning: node-gyp not found; the native spawner is not built (child_process is used instead)');
    return;
  }
  // The headers of the Node that runs this (e.g. /usr/include/node), so nothing is downloaded.
  const args = [gyp, 'rebuild'];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    say(`warning: building the native spawner failed; child_process is used instead:\n${tail}`);
  }
}

main();
