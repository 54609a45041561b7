/**
 * A fake of the Google Cloud Storage JSON API, serving exactly the routes @google-cloud/storage 7
 * calls for buckets and objects (no GCS emulator can be installed here): bucket create/get/
 * delete, simple multipart and resumable uploads (one request or 308-chunked), metadata,
 * media download with `x-goog-hash`, paged listing, delete, and the create-only precondition
 * (`ifGenerationMatch=0`) of simple uploads. Objects live in memory and are
 * replaced atomically when an upload completes. Object JSON carries the md5Hash/crc32c the
 * client checks uploads against.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CRC32C } from '@google-cloud/storage';

interface StoredObject {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly generation: number;
  readonly md5: string;
  readonly crc32c: string;
  readonly updated: string;
}

interface Session {
  readonly bucket: string;
  readonly name: string;
  readonly contentType: string;
  readonly chunks: Buffer[];
  received: number;
}

/** A running fake; `endpoint` is what `apiEndpoint` (or --remote-endpoint) takes. */
export interface GcsFake {
  readonly port: number;
  readonly endpoint: string;
  /** Requests served, as `METHOD path` (without the query), for assertions. */
  readonly log: string[];
  createBucket(name: string): void;
  stop(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 on a free port. */
export async function startGcsFake(): Promise<GcsFake> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, Session>();
  const log: string[] = [];
  let generation = 1;

  const objectJson = (bucket: string, name: string, o: StoredObject): Record<string, unknown> => ({
    kind: 'storage#object',
    id: `${bucket}/${name}/${o.generation}`,
    name,
    bucket,
    size: String(o.bytes.length),
    generation: String(o.generation),
    metageneration: '1',
    contentType: o.contentType,
    etag: o.md5,
    md5Hash: o.md5,
    crc32c: o.crc32c,
    metadata: {},
    timeCreated: o.updated,
    updated: o.updated,
  });

  const finish = (bucket: string, name: string, contentType: string, bytes: Buffer): StoredObject => {
    const crc = new CRC32C();
    crc.update(bytes);
    const o: StoredObject = {
      bytes,
      contentType,
      generation: generation++,
      md5: createHash('md5').update(bytes).digest('base64'),
      crc32c: crc.toString(),
      updated: new Date().toISOString(),
    };
    buckets.get(bucket)?.set(name, o);
    return o;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    log.push(`${method} ${url.pathname}`);
    const body = await readBody(req);
    const q = url.searchParams;
    let m: RegExpExecArray | null;

    if (url.pathname === '/storage/v1/b' && method === 'POST') {
      const name = String((JSON.parse(body.toString() || '{}') as { name?: unknown }).name ?? '');
      if (buckets.has(name)) return sendError(res, 409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
      buckets.set(name, new Map());
      return sendJson(res, 200, { kind: 'storage#bucket', id: name, name });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(url.pathname)) !== null) {
      const name = decodeURIComponent(m[1] ?? '');
      if (!buckets.has(name)) return sendError(res, 404, 'notFound', 'The specified bucket does not exist.');
      if (method === 'DELETE') {
        buckets.delete(name);
        return sendEmpty(res, 204);
      }
      return sendJson(res, 200, { kind: 'storage#bucket', id: name, name });
    }
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname)) !== null && method === 'POST') {
      const bucket = decodeURIComponent(m[1] ?? '');
      if (!buckets.has(bucket)) return sendError(res, 404, 'notFound', 'The specified bucket does not exist.');
      if (q.get('uploadType') === 'multipart') {
        const { meta, media } = parseMultipart(body, String(req.headers['content-type'] ?? ''));
        const name = q.get('name') ?? String(meta.name ?? '');
        // ifGenerationMatch=0: create only (the library's create-if-absent precondition).
        if (q.get('ifGenerationMatch') === '0' && buckets.get(bucket)?.has(name) === true) {
          return sendError(res, 412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
        }
        const o = finish(bucket, name, String(meta.contentType ?? 'application/octet-stream'), media);
        return sendJson(res, 200, objectJson(bucket, name, o));
      }
      if (q.get('uploadType') === 'resumable') {
        const meta = JSON.parse(body.toString() || '{}') as { name?: unknown; contentType?: unknown };
        const name = q.get('name') ?? String(meta.name ?? '');
        const id = randomBytes(8).toString('hex');
        sessions.set(id, { bucket, name, contentType: String(meta.contentType ?? 'application/octet-stream'), chunks: [], received: 0 });
        // Built from the Host header, so a proxy in front stays in the path.
        res.setHeader('Location', `http://${req.headers.host ?? 'localhost'}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`);
        return sendEmpty(res, 200);
      }
      return sendError(res, 400, 'invalid', `unsupported uploadType ${q.get('uploadType') ?? ''}`);
    }
    if (/^\/upload\/storage\/v1\/b\/[^/]+\/o$/.test(url.pathname) && method === 'PUT') {
      const s = sessions.get(q.get('upload_id') ?? '');
      if (s === undefined) return sendError(res, 404, 'notFound', 'No such upload session.');
      const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(String(req.headers['content-range'] ?? 'bytes */*'));
      if (range === null) return sendError(res, 400, 'invalid', 'bad Content-Range');
      if (body.length > 0) {
        s.chunks.push(body);
        s.received += body.length;
      }
      const total = range[4] === '*' ? undefined : Number(range[4]);
      // `bytes 0-*/*`: the whole body in this one request, complete when it ends.
      const complete = total !== undefined ? s.received >= total : range[3] === '*';
      if (!complete) {
        if (s.received > 0) res.setHeader('Range', `bytes=0-${s.received - 1}`);
        return sendEmpty(res, 308);
      }
      sessions.delete(q.get('upload_id') ?? '');
      const o = finish(s.bucket, s.name, s.contentType, Buffer.concat(s.chunks));
      return sendJson(res, 200, objectJson(s.bucket, s.name, o));
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname)) !== null && method === 'GET') {
      const bucketName = decodeURIComponent(m[1] ?? '');
      const bucket = buckets.get(bucketName);
      if (bucket === undefined) return sendError(res, 404, 'notFound', 'The specified bucket does not exist.');
      const prefix = q.get('prefix') ?? '';
      const max = Math.min(Number(q.get('maxResults') ?? 1000) || 1000, 1000);
      const names = [...bucket.keys()].filter((n) => n.startsWith(prefix)).sort();
      const start = q.get('pageToken') === null ? 0 : names.findIndex((n) => n > Buffer.from(q.get('pageToken') ?? '', 'base64url').toString());
      const page = start < 0 ? [] : names.slice(start, start + max);
      const last = page[page.length - 1];
      const more = start >= 0 && start + max < names.length && last !== undefined;
      return sendJson(res, 200, {
        kind: 'storage#objects',
        items: page.map((n) => objectJson(bucketName, n, bucket.get(n) as StoredObject)),
        ...(more ? { nextPageToken: Buffer.from(last).toString('base64url') } : {}),
      });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname)) !== null) {
      const bucketName = decodeURIComponent(m[1] ?? '');
      const name = decodeURIComponent(m[2] ?? '');
      const bucket = buckets.get(bucketName);
      if (bucket === undefined) return sendError(res, 404, 'notFound', 'The specified bucket does not exist.');
      const o = bucket.get(name);
      if (o === undefined) return sendError(res, 404, 'notFound', `No such object: ${bucketName}/${name}`);
      if (method === 'DELETE') {
        bucket.delete(name);
        return sendEmpty(res, 204);
      }
      if (method === 'GET' && q.get('alt') === 'media') {
        res.writeHead(200, {
          'Content-Type': o.contentType,
          'Content-Length': String(o.bytes.length),
          'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
          'x-goog-stored-content-encoding': 'identity',
          'x-goog-generation': String(o.generation),
        });
        res.end(o.bytes);
        return;
      }
      if (method === 'GET') return sendJson(res, 200, objectJson(bucketName, name, o));
    }
    sendError(res, 404, 'notFound', `no route for ${method} ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => sendError(res, 500, 'backendError', String(e)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    log,
    createBucket: (name) => {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': '0' });
  res.end();
}

function sendError(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { error: { code, message, errors: [{ reason, message, domain: 'global' }] } });
}

/** Splits a multipart/related upload into its JSON metadata and media parts. */
function parseMultipart(body: Buffer, contentType: string): { meta: Record<string, unknown>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (boundary === undefined) throw new Error('multipart upload without a boundary');
  const delim = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    parts.push(body.subarray(start + 2, next - 2)); // skip the CRLF after the delimiter and before the next
    pos = next;
  }
  const content = (p: Buffer | undefined): Buffer => {
    if (p === undefined) throw new Error('multipart upload with fewer than two parts');
    const sep = p.indexOf('\r\n\r\n');
    return p.subarray(sep + 4);
  };
  return { meta: JSON.parse(content(parts[0]).toString()) as Record<string, unknown>, media: content(parts[1]) };
}
