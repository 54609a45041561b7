import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Writes a report file (`--summary`, `--junit`, `--profile`) atomically, creating its
 * directory: a CI step that picks the file up sees the whole report or none, never a torn
 * one from a run that was killed while writing.
 */
export async function writeReport(file: string, text: string): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, text);
  } catch (error) {
    throw new Error(`cannot write "${file}": ${error instanceof Error ? error.message : String(error)}`);
  }
}
