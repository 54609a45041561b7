import { fileURLToPath } from 'node:url';
import { spawnServer } from './spawn-server.js';

const BIN = fileURLToPath(new URL('../../node_modules/azurite/dist/src/blob/main.js', import.meta.url));

/** azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running azurite blob service on 127.0.0.1, in memory. */
export interface AzuriteHandle {
  readonly port: number;
  /** The account URL, e.g. http://127.0.0.1:PORT/devstoreaccount1. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts azurite-blob (a child process, in-memory persistence) on a free port. */
export async function startAzurite(): Promise<AzuriteHandle> {
  const server = await spawnServer(
    process.execPath,
    [BIN, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    /listens on http:\/\/[\d.]+:(\d+)/,
  );
  return { port: server.port, endpoint: `http://127.0.0.1:${server.port}/${AZURITE_ACCOUNT}`, stop: () => server.stop() };
}
