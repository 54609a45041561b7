/**
 * A readable that passes another one through unchanged and calls `onProgress` for every chunk
 * that moves: the resilient store uses it to restart a request's deadline while a body is
 * moving (an idle deadline instead of a total one).
 *
 * Backpressure is kept (the source pauses while the result's buffer is full). A source error
 * reaches the result after the chunks already handed over were read (as with the source
 * itself), and destroying the result (a reader that stops early, a timeout) destroys the source.
 */
import { Readable } from 'node:stream';

/** `source` as its reader sees it, with `onProgress` told of every chunk. */
export function withProgress(source: Readable, onProgress: () => void): Readable {
  return new ProgressReadable(source, onProgress);
}

class ProgressReadable extends Readable {
  readonly #source: Readable;

  constructor(source: Readable, onProgress: () => void) {
    super();
    this.#source = source;
    source.on('data', (chunk: Buffer) => {
      onProgress();
      if (!this.push(chunk)) source.pause();
    });
    source.once('end', () => this.push(null));
    // One turn later, so that a reader waiting for data first gets what already arrived.
    source.once('error', (e: Error) => setImmediate(() => this.destroy(e)));
    source.pause();
  }

  override _read(): void {
    this.#source.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#source.destroyed) this.#source.destroy();
    callback(error);
  }
}
