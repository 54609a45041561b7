import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '../util/process.js';

/**
 * Where commands' stdout/stderr files go while they run. Creating two files per task on a
 * journaled disk is a measurable part of a build of many short tasks, so a tmpfs
 * (`/dev/shm`) is used when there is one; otherwise `<workspace>/.reprovm/capture`. Each run
 * gets its own directory, named after the process, and removes it at the end; directories
 * of processes that no longer exist are swept.
 */
export function createCaptureDir(workspace: string): { dir: string; remove: () => void } {
  const base = tmpfsBase() ?? path.join(workspace, '.reprovm', 'capture');
  const dir = path.join(base, `reprovm-capture-${process.pid}`);
  sweepDead(base);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function tmpfsBase(): string | undefined {
  const shm = '/dev/shm';
  try {
    if (existsSync(shm)) {
      const probe = path.join(shm, `reprovm-probe-${process.pid}`);
      mkdirSync(probe, { recursive: true });
      rmSync(probe, { recursive: true, force: true });
      return shm;
    }
  } catch {
    // Not writable: use the workspace.
  }
  return undefined;
}

function sweepDead(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^reprovm-capture-(\d+)$/.exec(name);
    if (m && !isProcessAlive(Number(m[1]))) rmSync(path.join(base, name), { recursive: true, force: true });
  }
}

