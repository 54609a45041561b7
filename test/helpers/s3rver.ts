import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer } from './spawn-server.js';

const BIN = fileURLToPath(new URL('../../node_modules/s3rver/bin/s3rver.js', import.meta.url));

/** s3rver's fixed credentials: it rejects every other access key. */
export const S3RVER_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } as const;

/** A running s3rver on 127.0.0.1 with its data in a temp dir. */
export interface S3rverHandle {
  readonly port: number;
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts s3rver (a child process) on a free port; `stop()` kills it and removes its data. */
export async function startS3rver(): Promise<S3rverHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'reprovm-s3rver-'));
  // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers
  // through its legacy provider: without it every truncated listing is a 500.
  const server = await spawnServer(process.execPath, ['--openssl-legacy-provider', BIN, '-d', dir, '-a', '127.0.0.1', '-p', '0', '-s'], /listening on [\d.]+:(\d+)/);
  return {
    port: server.port,
    endpoint: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
