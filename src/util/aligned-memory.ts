/**
 * Page-aligned buffers, for writes that bypass the page cache (O_DIRECT wants the buffer's
 * address aligned to the device's block; Node's own Buffers are not).
 *
 * A WebAssembly.Memory's base is page-aligned, so buffers carved from one at multiples of 4 KiB
 * are too. Their backing stores are remembered, so a writer can tell whether a Buffer it is
 * handed is one of them ({@link isPageAligned}) and write it in place instead of copying it.
 * Without WebAssembly (`--jitless`) the buffers are plain and never count as aligned.
 */

/** The one WebAssembly API used here (the lib this project compiles against has no WebAssembly types). */
declare const WebAssembly:
  | { readonly Memory: new (size: { initial: number; maximum: number; shared?: boolean }) => { readonly buffer: ArrayBuffer | SharedArrayBuffer } }
  | undefined;

const PAGE = 4096;
const WASM_PAGE = 64 * 1024;
const aligned = new WeakSet<ArrayBufferLike>();

/** True where aligned buffers can be made (WebAssembly is available). */
export function canAlign(): boolean {
  return typeof WebAssembly === 'object';
}

/**
 * One backing store of `count` × `size` bytes (`size` a multiple of 64 KiB), shared between
 * threads when `shared`, and `count` Buffers over it, each page-aligned where {@link canAlign}.
 */
export function alignedBuffers(count: number, size: number, shared: boolean): { store: ArrayBufferLike; buffers: Buffer[] } {
  if (size % WASM_PAGE !== 0) throw new RangeError(`aligned buffers come in multiples of ${WASM_PAGE} bytes, not ${size}`);
  let store: ArrayBufferLike;
  if (typeof WebAssembly === 'object') {
    const pages = (count * size) / WASM_PAGE;
    store = new WebAssembly.Memory({ initial: pages, maximum: pages, ...(shared ? { shared: true } : {}) }).buffer;
    aligned.add(store);
  } else {
    store = shared ? new SharedArrayBuffer(count * size) : new ArrayBuffer(count * size);
  }
  return { store, buffers: Array.from({ length: count }, (_, i) => Buffer.from(store, i * size, size)) };
}

/** True when `buf` starts on a page boundary of memory made by {@link alignedBuffers}. */
export function isPageAligned(buf: Buffer): boolean {
  return buf.byteOffset % PAGE === 0 && aligned.has(buf.buffer);
}
