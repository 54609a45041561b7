/**
 * SseStream over a real HTTP connection: while the client does not read, chunks wait in the
 * stream instead of piling up in the socket buffer; they arrive in order once it reads, and
 * the response ends after the last one. A client too far behind is disconnected.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SseStream } from '../../src/server/sse-stream.js';

async function serve(handler: (res: ServerResponse) => void): Promise<{ server: Server; get: () => Promise<IncomingMessage> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    handler(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const get = (): Promise<IncomingMessage> => new Promise((resolve, reject) => request({ host: '127.0.0.1', port }, resolve).on('error', reject).end());
  return { server, get };
}

const CHUNK = 64 * 1024;
const chunk = (i: number): string => `data: ${String(i).padStart(6, '0')}${'x'.repeat(CHUNK - 14)}\n\n`;

test('a client that does not read: chunks wait in the stream, then arrive in order and the stream ends', async () => {
  let stream: SseStream | undefined;
  let res: ServerResponse | undefined;
  const { server, get } = await serve((r) => {
    res = r;
    stream = new SseStream(r, () => undefined);
  });
  try {
    const answer = await get();
    answer.pause();
    for (let i = 0; i < 100; i++) stream!.write(chunk(i));
    stream!.end();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(stream!.blocked, true);
    // 100 × 64 KiB were written; without backpressure they would all sit in the socket buffer.
    assert.ok(res!.writableLength < 2 * 1024 * 1024, `socket buffer holds ${res!.writableLength} bytes`);
    let body = '';
    answer.setEncoding('utf8');
    answer.on('data', (d: string) => (body += d));
    answer.resume();
    await new Promise((r) => answer.on('end', r));
    assert.equal(body.length, 100 * CHUNK);
    const order = [...body.matchAll(/data: (\d{6})/g)].map((m) => Number(m[1]));
    assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a client more than 8 MiB behind is disconnected and the stream reports the close', async () => {
  let stream: SseStream | undefined;
  let closed = false;
  const { server, get } = await serve((r) => {
    stream = new SseStream(r, () => (closed = true));
  });
  try {
    const answer = await get();
    answer.pause();
    answer.on('error', () => undefined);
    for (let i = 0; i < 200 && !closed; i++) {
      stream!.write(chunk(i));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, true);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
