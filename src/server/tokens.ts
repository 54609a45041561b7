/**
 * Collects the API tokens from every source: `[token.NAME]` sections (sha256 + role), the
 * `[server] token_file` ("NAME ROLE SHA256" lines), `REPROVM_SERVER_TOKEN` (role admin, name
 * `env`) and `serve --token` (role admin, name `cli`). Plain tokens are hashed here and not kept.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { hashToken, parseDigest, parseTokenFile, TokenSourceError, TokenTable, type TokenEntry } from './auth.js';

/** Where tokens come from. */
export interface TokenSources {
  readonly config: Config;
  /** Directory relative token_file paths are resolved against. */
  readonly baseDir: string;
  readonly envToken?: string;
  readonly flagToken?: string;
}

/** Builds the token table; throws {@link TokenSourceError} naming the bad source. */
export function loadTokens(src: TokenSources): TokenTable {
  const entries: TokenEntry[] = [];
  for (const t of src.config.token) {
    const digest = parseDigest(t.sha256);
    if (!digest) throw new TokenSourceError(`[token.${t.name}]: sha256 must be the 64-digit hex SHA-256 of the token (e.g. printf %s TOKEN | sha256sum)`);
    entries.push({ name: t.name, role: t.role, digest });
  }
  const file = src.config.server.token_file;
  if (file !== '') {
    const abs = path.resolve(src.baseDir, file);
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch (error) {
      throw new TokenSourceError(`[server] token_file: cannot read "${abs}": ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    entries.push(...parseTokenFile(text, abs));
  }
  if (src.envToken) entries.push({ name: 'env', role: 'admin', digest: hashToken(checkLength(src.envToken, 'REPROVM_SERVER_TOKEN')) });
  if (src.flagToken) entries.push({ name: 'cli', role: 'admin', digest: hashToken(checkLength(src.flagToken, '--token')) });
  return new TokenTable(entries);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The shortest plain token accepted: shorter ones are guessable. */
export const MIN_TOKEN_LENGTH = 16;

/** A plain token given to the server (not a digest) must be at least {@link MIN_TOKEN_LENGTH} characters. */
function checkLength(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new TokenSourceError(`${source}: the token has ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 24)`);
  }
  return token;
}
