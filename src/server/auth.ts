/**
 * Bearer-token authentication of the REST API. Tokens are only ever held as SHA-256 digests
 * (config `[token.NAME] sha256`, the token file, or the digest of a token given on the command
 * line / in REPROVM_SERVER_TOKEN, which is hashed on arrival and never kept). A presented token
 * is hashed and compared with EVERY known digest by `crypto.timingSafeEqual`, so neither the
 * answer nor its timing tells how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** What a token may do: read = GETs, run = also trigger and cancel runs, admin = everything. */
export type Role = 'read' | 'run' | 'admin';

const RANK: Record<Role, number> = { read: 0, run: 1, admin: 2 };

/** Whether a token with role `have` may use a route that needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** Narrows a config or file value to a role. */
export function isRole(x: unknown): x is Role {
  return x === 'read' || x === 'run' || x === 'admin';
}

/** One known token: its name (what the audit log records), role and digest. */
export interface TokenEntry {
  readonly name: string;
  readonly role: Role;
  /** The SHA-256 of the token (32 bytes). */
  readonly digest: Buffer;
}

/** SHA-256 of a token, as stored. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A typed problem with a token source, e.g. a bad line of the token file. */
export class TokenSourceError extends Error {
  override readonly name = 'TokenSourceError';
}

/** Parses a hex SHA-256; undefined when it is not 64 hex digits. */
export function parseDigest(hex: string): Buffer | undefined {
  return /^[0-9a-fA-F]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

/**
 * The token file: one `NAME ROLE SHA256` per line; blank lines and `#` comments are ignored.
 * Throws {@link TokenSourceError} naming `file:line` for a malformed line.
 */
export function parseTokenFile(text: string, file: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [name, role, hex, ...rest] = line.split(/\s+/);
    const digest = hex === undefined ? undefined : parseDigest(hex);
    if (name === undefined || !isRole(role) || digest === undefined || rest.length > 0) {
      throw new TokenSourceError(`${file}:${i + 1}: expected "NAME ROLE SHA256" with ROLE read, run or admin and a 64-digit hex SHA-256`);
    }
    out.push({ name, role, digest });
  });
  return out;
}

/** The outcome of checking a request's Authorization header. */
export type AuthResult =
  | { readonly kind: 'ok'; readonly name: string; readonly role: Role }
  | { readonly kind: 'missing' }
  | { readonly kind: 'bad' };

/** The known tokens. Immutable: a config reload builds a new table. */
export class TokenTable {
  readonly #entries: readonly TokenEntry[];

  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Checks an `Authorization` header value (`Bearer <token>`). */
  check(header: string | undefined): AuthResult {
    if (header === undefined || header === '') return { kind: 'missing' };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return { kind: 'bad' };
    const presented = hashToken(m[1]!);
    let found: TokenEntry | undefined;
    // Compare with every entry, no early exit.
    for (const e of this.#entries) {
      if (timingSafeEqual(presented, e.digest) && found === undefined) found = e;
    }
    return found ? { kind: 'ok', name: found.name, role: found.role } : { kind: 'bad' };
  }
}
