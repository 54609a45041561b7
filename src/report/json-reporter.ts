import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';

/** `--json`: every event as one JSON object per line (NDJSON) for programs. */
export class JsonReporter implements Reporter {
  constructor(readonly out: NodeJS.WritableStream) {}
  onEvent(event: RunEvent): void {
    this.out.write(`${JSON.stringify(event)}\n`);
  }
}
