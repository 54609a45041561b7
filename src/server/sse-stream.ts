/**
 * One Server-Sent Events response that respects backpressure. Run events are pushed to it as
 * they come (the run cannot wait for a slow client), so while the socket's buffer is full
 * (`write()` returned false) chunks wait here and are written on 'drain'. A client that falls
 * more than {@link MAX_PENDING_BYTES} behind is disconnected: it can reconnect with
 * `Last-Event-ID` and resume, which costs less than holding its backlog twice.
 */
import type { ServerResponse } from 'node:http';

const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** Writes SSE chunks to `raw`, pausing while the client does not read. */
export class SseStream {
  readonly #raw: ServerResponse;
  readonly #pending: string[] = [];
  #pendingBytes = 0;
  #blocked = false;
  #ending = false;
  #closed = false;

  constructor(raw: ServerResponse, onClose: () => void) {
    this.#raw = raw;
    raw.on('drain', () => this.#flush());
    raw.on('close', () => {
      this.#closed = true;
      this.#pending.length = 0;
      onClose();
    });
  }

  /** True while the client has not caught up (keepalives are pointless then). */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Queues or writes one chunk. */
  write(chunk: string): void {
    if (this.#closed || this.#ending) return;
    if (this.#blocked) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes > MAX_PENDING_BYTES) this.#raw.destroy();
      return;
    }
    this.#blocked = !this.#raw.write(chunk);
  }

  /** Ends the response once everything queued has been written. */
  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (!this.#blocked) this.#raw.end();
  }

  #flush(): void {
    this.#blocked = false;
    while (!this.#blocked && this.#pending.length > 0) {
      const chunk = this.#pending.shift()!;
      this.#pendingBytes -= chunk.length;
      this.#blocked = !this.#raw.write(chunk);
    }
    if (!this.#blocked && this.#ending && !this.#closed) this.#raw.end();
  }
}
