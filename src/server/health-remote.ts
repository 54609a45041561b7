/**
 * The configured remote cache for `GET /health`: opened on first use (a server without health
 * polling never loads a cloud SDK), kept for later checks, and reopened when a reload changes
 * the `[remote]` section. Opening goes through the one remote opener (ops/open-remote.ts), so
 * the check sees the same timeouts and retries a run does.
 */
import type { LoadedConfig } from '../config/load.js';
import { remoteForHealth } from '../ops/open-remote.js';
import type { BlobStore } from '../remote/blob-store.js';

/** The remote to pass to `checkHealth`, or why it cannot be opened; empty when none is configured. */
export type HealthRemote = { readonly remote?: BlobStore; readonly remoteError?: string };

/** Holds the opened remote between health checks; see the module comment. */
export class HealthRemoteHolder {
  readonly #env: NodeJS.ProcessEnv;
  readonly #cwd: string;
  #settings: string | undefined;
  #opened: Promise<HealthRemote> | undefined;

  constructor(env: NodeJS.ProcessEnv, cwd: string) {
    this.#env = env;
    this.#cwd = cwd;
  }

  /** The remote of `loaded` (the current configuration), opened once per distinct `[remote]` section. */
  get(loaded: LoadedConfig): Promise<HealthRemote> {
    const settings = JSON.stringify(loaded.config.remote);
    if (this.#opened === undefined || settings !== this.#settings) {
      void this.#closeOpened();
      this.#settings = settings;
      this.#opened = remoteForHealth(loaded, this.#env, this.#cwd);
    }
    return this.#opened;
  }

  /** Closes the opened remote (server shutdown). */
  close(): Promise<void> {
    return this.#closeOpened();
  }

  async #closeOpened(): Promise<void> {
    const opened = this.#opened;
    this.#opened = undefined;
    this.#settings = undefined;
    // A check still using it finishes first: closing only releases idle connections.
    await (await opened)?.remote?.close().catch(() => undefined);
  }
}
