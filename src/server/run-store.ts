/**
 * The runs a server knows, kept light: every run's list entry (`RunInfo`) in memory, but the
 * per-task results of ended runs on disk (their history's summary.json), read on demand through
 * a small most-recently-used cache. A long history of large runs does not live in memory.
 */
import type { RunHistory } from './run-history.js';
import type { RunDetail, RunInfo } from './run-record.js';

/** Ended runs whose details are kept in memory (the most recently read). */
const DETAILS_KEPT = 32;

export class RunStore {
  readonly #infos = new Map<string, RunInfo>();
  readonly #details = new Map<string, RunDetail>();
  readonly #historyOf: (workspace: string) => RunHistory;

  /** `historyOf`: the history a workspace's runs are in. */
  constructor(historyOf: (workspace: string) => RunHistory) {
    this.#historyOf = historyOf;
  }

  /** Records a run's list entry; with its detail when at hand (a run that just ended). */
  set(info: RunInfo, detail?: RunDetail): void {
    this.#infos.set(info.id, info);
    if (detail) this.#remember(detail);
  }

  info(id: string): RunInfo | undefined {
    return this.#infos.get(id);
  }

  /** Every known run's list entry. */
  infos(): IterableIterator<RunInfo> {
    return this.#infos.values();
  }

  /** An ended run's detail (from the cache or its history); undefined when unknown or gone. */
  detail(id: string): RunDetail | undefined {
    const info = this.#infos.get(id);
    if (!info) return undefined;
    const d = this.#details.get(id) ?? this.#historyOf(info.workspace).read(id);
    if (d) this.#remember(d);
    return d;
  }

  delete(id: string): void {
    this.#infos.delete(id);
    this.#details.delete(id);
  }

  #remember(d: RunDetail): void {
    this.#details.delete(d.id);
    this.#details.set(d.id, d);
    if (this.#details.size > DETAILS_KEPT) this.#details.delete(this.#details.keys().next().value!);
  }
}
