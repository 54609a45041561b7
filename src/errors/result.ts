/** Expected failures are values: parsing, validation, hashing and cache I/O return a Result. */
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}

/** Exhaustiveness helper for `switch` over discriminated unions. */
export function unreachable(x: never): never {
  throw new Error(`Internal error: unreachable case ${JSON.stringify(x)}`);
}
