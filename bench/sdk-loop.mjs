#!/usr/bin/env node
/**
 * The remote scenario's peer: a plain @aws-sdk/client-s3 loop, as a user would write it, that
 * puts or gets a list of objects with a fixed concurrency.
 *
 *   node bench/sdk-loop.mjs put|get ENDPOINT BUCKET LIST.json DIR CONCURRENCY
 *
 * LIST.json is `[[key, file, size], ...]`. `put` creates the bucket, then uploads every file
 * (multipart with 8 MiB parts, 4 at once, from 16 MiB up; else one PutObject of the file's
 * bytes). `get` downloads every key into DIR (one file per key). Credentials come from the
 * environment, like any SDK program's.
 *
 * Run as a program it is plain JavaScript run by plain `node`, so that it pays what such a
 * script pays (Node's start, loading the SDK from node_modules, a cold JIT) and nothing more (no
 * TypeScript loader): the bench times it from process start to exit, exactly as it times
 * reprovm. The bench also imports {@link openClient}, {@link putAll} and {@link getAll} to run
 * the same loop inside its own long-lived process (the SDK's best case).
 */
import { createReadStream, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/**
 * A client for `endpoint` (path-style; checksums only where an operation requires them), with
 * `credentials` if given, else the SDK's chain (the environment).
 */
export function openClient(endpoint, credentials) {
  return new S3Client({
    ...(credentials === undefined ? {} : { credentials }),
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Runs `fn` over `list` with `n` at once. */
async function limited(list, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < list.length) await fn(list[next++]);
  }));
}

/** Creates `bucket`, then uploads every `[key, file, size]` of `items`, `n` at once. */
export async function putAll(client, bucket, items, n) {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await limited(items, n, async ([key, file, size]) => {
    if (size >= 16 * 1024 * 1024) {
      await new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(file) }, partSize: 8 * 1024 * 1024, queueSize: 4 }).done();
    } else {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
    }
  });
}

/** Downloads every key of `items` into a file of its own in `dir`, `n` at once. */
export async function getAll(client, bucket, items, dir, n) {
  mkdirSync(dir, { recursive: true });
  await limited(items, n, async ([key]) => {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(got.Body, createWriteStream(path.join(dir, key.replaceAll('/', '_'))));
  });
}

async function main(argv) {
  const [mode, endpoint, bucket, listFile, dir, concurrency] = argv;
  if ((mode !== 'put' && mode !== 'get') || !endpoint || !bucket || !listFile || !dir || !concurrency) {
    process.stderr.write('usage: sdk-loop.mjs put|get ENDPOINT BUCKET LIST.json DIR CONCURRENCY\n');
    process.exit(2);
  }
  const items = JSON.parse(readFileSync(listFile, 'utf8'));
  const client = openClient(endpoint);
  try {
    if (mode === 'put') await putAll(client, bucket, items, Number(concurrency));
    else await getAll(client, bucket, items, dir, Number(concurrency));
  } finally {
    client.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
