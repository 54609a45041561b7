/**
 * The outcome of each workspace's previous run, for `on = change`: one small JSON file per
 * workspace, `<cache_dir>/notify/<first 16 hex of SHA-256(workspace path)>.json` holding
 * `{"version":1,"workspace":...,"outcome":"success"|"failure","time":...}`. Written atomically
 * (temp + rename, no fsync: losing it only means one extra or one missed "changed"
 * notification). A missing, torn or foreign file reads as "no previous run".
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';

export type Outcome = 'success' | 'failure';

function fileFor(cacheDir: string, workspace: string): string {
  const id = createHash('sha256').update(workspace).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'notify', `${id}.json`);
}

/** The previous run's outcome, if known. */
export function readLastOutcome(cacheDir: string, workspace: string): Outcome | undefined {
  try {
    const o = JSON.parse(readFileSync(fileFor(cacheDir, workspace), 'utf8')) as { version?: number; workspace?: string; outcome?: string };
    if (o.version === 1 && o.workspace === workspace && (o.outcome === 'success' || o.outcome === 'failure')) return o.outcome;
  } catch {
    // Missing or unreadable: treated as no previous run.
  }
  return undefined;
}

/** Records this run's outcome. Throws on I/O errors (the caller warns). */
export async function writeLastOutcome(cacheDir: string, workspace: string, outcome: Outcome): Promise<void> {
  const file = fileFor(cacheDir, workspace);
  mkdirSync(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify({ version: 1, workspace, outcome, time: new Date().toISOString() })}\n`, { fsync: false });
}

/** Whether a run with `outcome` notifies under `on`, given the previous outcome. */
export function shouldNotify(on: 'never' | 'failure' | 'always' | 'change', outcome: Outcome, previous: Outcome | undefined): boolean {
  switch (on) {
    case 'never':
      return false;
    case 'always':
      return true;
    case 'failure':
      return outcome === 'failure';
    case 'change':
      // The first run of a workspace counts as a change only when it failed: a new, green
      // workspace is not news.
      return previous === undefined ? outcome === 'failure' : previous !== outcome;
  }
}
