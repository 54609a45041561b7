import { loadNativeSpawn, type NativeSpawnAddon } from './spawn-native.js';

/**
 * How task commands are started. `native`: the posix_spawn addon (spawn-native.ts, output to
 * capture files or to pipes it creates). `node`: child_process.spawn.
 */
export type Spawner = { readonly kind: 'node' } | { readonly kind: 'native'; readonly addon: NativeSpawnAddon };

export const NODE_SPAWNER: Spawner = Object.freeze({ kind: 'node' });

/**
 * The spawner for a setting of `REPROVM_SPAWNER`: unset or `auto` → native when the addon
 * loads, else node, silently; `node` → node; `native` → native, or node with a warning saying
 * why not. Anything else is a warning and `auto`.
 */
export function chooseSpawner(setting: string | undefined, load: typeof loadNativeSpawn = loadNativeSpawn): { spawner: Spawner; warning?: string } {
  const mode = (setting ?? '').trim().toLowerCase();
  if (mode === 'node') return { spawner: NODE_SPAWNER };
  const unknown = mode !== '' && mode !== 'auto' && mode !== 'native';
  const loaded = load();
  const spawner: Spawner = loaded.ok ? { kind: 'native', addon: loaded.addon } : NODE_SPAWNER;
  if (unknown) return { spawner, warning: `REPROVM_SPAWNER: unknown value "${setting}" (use node, native or auto); using ${spawner.kind}` };
  if (mode === 'native' && !loaded.ok) return { spawner, warning: `REPROVM_SPAWNER=native: ${loaded.reason}; using child_process` };
  return { spawner };
}
