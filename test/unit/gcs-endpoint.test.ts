import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopback } from '../../src/remote/gcs.js';

describe('GCS custom endpoints', () => {
  it('only a loopback endpoint counts as a local fake (reached without credentials)', () => {
    for (const e of ['http://127.0.0.1:4443', 'http://localhost:8080', 'http://[::1]:9000', '127.0.0.5:1', 'localhost']) assert.equal(isLoopback(e), true, e);
    for (const e of ['https://storage.example.com', 'https://private.googleapis.com', 'http://10.0.0.2:4443', 'not a url ::']) assert.equal(isLoopback(e), false, e);
  });
});
