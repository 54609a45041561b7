import { lstatSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Guards writes into the workspace: every parent of a path must be a real directory inside
 * the workspace, never a symlink (which could point anywhere). Verified directories are
 * remembered so a restore of many files stats each directory once.
 */
export class WorkspaceWriter {
  readonly #workspace: string;
  readonly #verified = new Set<string>();

  constructor(workspace: string) {
    this.#workspace = workspace;
  }

  /** Absolute path of a workspace-relative POSIX path; throws on anything that escapes. */
  resolve(rel: string): string {
    if (rel === '' || path.posix.isAbsolute(rel) || rel.split('/').includes('..')) {
      throw new PathEscapeError(`refusing to write "${rel}": it is not a path inside the workspace`);
    }
    return path.join(this.#workspace, ...rel.split('/'));
  }

  /** Creates missing parent directories of `rel`; throws PathEscapeError if one is a symlink or a file. */
  prepareParents(rel: string): string {
    const parts = rel.split('/');
    let current = this.#workspace;
    let currentRel = '';
    for (const part of parts.slice(0, -1)) {
      current = path.join(current, part);
      currentRel = currentRel === '' ? part : `${currentRel}/${part}`;
      if (this.#verified.has(currentRel)) continue;
      let st;
      try {
        st = lstatSync(current);
      } catch {
        mkdirSync(current);
        this.#verified.add(currentRel);
        continue;
      }
      if (st.isSymbolicLink()) {
        throw new PathEscapeError(`refusing to write "${rel}": "${currentRel}" is a symlink`);
      }
      if (!st.isDirectory()) {
        throw new PathEscapeError(`refusing to write "${rel}": "${currentRel}" is not a directory`);
      }
      this.#verified.add(currentRel);
    }
    return this.resolve(rel);
  }

  /** Forget verified directories (after something below was removed). */
  forget(): void {
    this.#verified.clear();
  }
}

export class PathEscapeError extends Error {
  override readonly name = 'PathEscapeError';
}
