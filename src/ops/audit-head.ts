/**
 * The chain head anchor `<log>.head`: `{"seq":N,"hash":"<sha256 of line N>"}` after every
 * append batch, so `audit verify` notices entries cut off the END of the log, which the chain
 * alone cannot show (a shorter chain is still a valid chain).
 *
 * Format version 1, one JSON object. Written under the log's append lock, after the log write,
 * as temp file + rename: a reader sees the old head or the new one, never a mix. Not fsynced
 * (neither is the log line): after a power loss the head may lag behind the log, which verify
 * accepts (a head is only a lower bound). An unreadable head is ignored by verify with the
 * report saying so; a missing one (logs written before the anchor existed) is not checked.
 *
 * Limit: someone who can rewrite both the log and its head can still cut the log's end
 * unnoticed; ship the log off the machine (syslog copy) where that matters.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The head of a chain: the last entry's sequence number and line hash. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The head file of the log `file`. */
export const headFileOf = (file: string): string => `${file}.head`;

/** Records `head` for the log `file` (caller holds the append lock). Throws on I/O errors. */
export function writeHead(file: string, head: ChainHead): void {
  const target = headFileOf(file);
  const temp = `${target}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ seq: head.seq, hash: head.hash })}\n`, { mode: 0o640 });
  renameSync(temp, target);
}

/** The recorded head of the log `file`: undefined when there is none, a string when it is unreadable. */
export function readHead(file: string): ChainHead | string | undefined {
  let text: string;
  try {
    text = readFileSync(headFileOf(file), 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot read ${headFileOf(file)}: ${e instanceof Error ? e.message : String(e)}`;
  }
  try {
    const v = JSON.parse(text) as Partial<ChainHead>;
    if (Number.isSafeInteger(v.seq) && (v.seq ?? -1) >= 0 && typeof v.hash === 'string') return { seq: v.seq!, hash: v.hash };
  } catch {
    // fall through
  }
  return `${headFileOf(file)} is not a valid chain head`;
}
