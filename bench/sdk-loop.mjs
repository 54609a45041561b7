#!/usr/bin/env node
/**
 * The remote scenario's peer as a program of its own: a plain @aws-sdk/client-s3 loop, as a
 * user would write it, that puts or gets a list of objects with a fixed concurrency.
 *
 *   node bench/sdk-loop.mjs put|get ENDPOINT BUCKET LIST.json DIR CONCURRENCY
 *
 * LIST.json is `[[key, file, size], ...]`. `put` creates the bucket, then uploads every file
 * (multipart with 8 MiB parts, 4 at once, from 16 MiB up; else one PutObject of the file's
 * bytes). `get` downloads every key into DIR (one file per key). Credentials come from the
 * environment, like any SDK program's.
 *
 * It is plain JavaScript run by plain `node`, so that it pays what such a script pays (Node's
 * start, loading the SDK from node_modules, a cold JIT) and nothing more (no TypeScript
 * loader): the bench times it from process start to exit, exactly as it times reprovm.
 */
import { createReadStream, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const [mode, endpoint, bucket, listFile, dir, concurrency] = process.argv.slice(2);
if ((mode !== 'put' && mode !== 'get') || !endpoint || !bucket || !listFile || !dir || !concurrency) {
  process.stderr.write('usage: sdk-loop.mjs put|get ENDPOINT BUCKET LIST.json DIR CONCURRENCY\n');
  process.exit(2);
}
/** @type {[string, string, number][]} */
const items = JSON.parse(readFileSync(listFile, 'utf8'));
const client = new S3Client({
  region: process.env.AWS_REGION ?? 'us-east-1',
  endpoint,
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

/** Runs `fn` over `list` with `n` at once. */
async function limited(list, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < list.length) await fn(list[next++]);
  }));
}

try {
  if (mode === 'put') {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await limited(items, Number(concurrency), async ([key, file, size]) => {
      if (size >= 16 * 1024 * 1024) {
        await new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(file) }, partSize: 8 * 1024 * 1024, queueSize: 4 }).done();
      } else {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
      }
    });
  } else {
    mkdirSync(dir, { recursive: true });
    await limited(items, Number(concurrency), async ([key]) => {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(got.Body, createWriteStream(path.join(dir, key.replaceAll('/', '_'))));
    });
  }
} finally {
  client.destroy();
}
