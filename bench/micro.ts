/**
 * Micro-benchmarks: Node start-up, file hashing, the zstd CLI's decompression speed (the
 * yardstick for reprovm's restore throughput), and the overhead of `run --strict`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileHasher, StatMemo } from '../src/hash/file-hasher.js';
import { assertOk, median, runTimed, sleep } from './measure.js';
import { syncDisk } from './scenarios.js';
import { D_FILE_BYTES, MANIFEST, bigFileCommand, deleteOutputs, makeWorkload, materialize } from './workloads.js';

/** `node -e 0`, wrapped exactly like the reprovm runs. */
export async function measureNodeStartup(reps: number, cwd: string): Promise<{ samples: number[]; maxRssKb: number | undefined }> {
  assertOk(await runTimed(process.execPath, ['-e', '0'], { cwd }), 'node -e 0'); // warm-up
  const samples: number[] = [];
  let maxRssKb: number | undefined;
  for (let i = 0; i < reps; i++) {
    const s = assertOk(await runTimed(process.execPath, ['-e', '0'], { cwd }), 'node -e 0');
    samples.push(s.ms);
    if (s.maxRssKb !== undefined) maxRssKb = Math.max(maxRssKb ?? 0, s.maxRssKb);
  }
  return { samples, maxRssKb };
}

/**
 * The 50 MiB data file of workload (d)'s first task (same command, same seed, so the same
 * bytes), generated in `dir`.
 */
export function makeDataFile(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'seed.txt'), '1000\n');
  execFileSync('/bin/sh', ['-c', bigFileCommand('seed.txt', 'data.bin')], { cwd: dir, stdio: 'ignore' });
  const file = path.join(dir, 'data.bin');
  const size = readFileSync(file).length;
  if (size !== D_FILE_BYTES) throw new Error(`data file has ${size} bytes, expected ${D_FILE_BYTES}`);
  return file;
}

export interface HashResult {
  readonly bytes: number;
  readonly reprovmMs: number[];
  /** createReadStream with its default 64 KiB chunks. */
  readonly bareMs: number[];
  /** createReadStream with 1 MiB chunks (the chunk size FileHasher uses). */
  readonly bare1MiBMs: number[];
}

async function bareSha256(file: string, highWaterMark?: number): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, highWaterMark === undefined ? {} : { highWaterMark })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * reprovm's `FileHasher.hashFileUncached` against a plain `createReadStream` → `createHash`
 * loop over the same file (default 64 KiB chunks, and 1 MiB chunks), rotating the order,
 * after one warm-up each (the file is in the page cache).
 */
export async function measureHashing(file: string, reps: number): Promise<HashResult> {
  const hasher = new FileHasher(new StatMemo());
  const variants = {
    reprovm: async (): Promise<string> => (await hasher.hashFileUncached(file)).digest,
    bare: (): Promise<string> => bareSha256(file),
    bare1MiB: (): Promise<string> => bareSha256(file, 1 << 20),
  };
  const names = Object.keys(variants) as (keyof typeof variants)[];
  const times: Record<keyof typeof variants, number[]> = { reprovm: [], bare: [], bare1MiB: [] };
  const digests = new Set<string>();
  for (const n of names) digests.add(await variants[n]());
  if (digests.size !== 1) throw new Error(`hash mismatch between FileHasher and crypto: ${[...digests].join(' ')}`);
  for (let i = 0; i < reps; i++) {
    for (const n of [...names.slice(i % names.length), ...names.slice(0, i % names.length)]) {
      const t0 = performance.now();
      await variants[n]();
      times[n].push(performance.now() - t0);
    }
  }
  const { size } = await hasher.hashFileUncached(file);
  return { bytes: size, reprovmMs: times.reprovm, bareMs: times.bare, bare1MiBMs: times.bare1MiB };
}

export interface ZstdResult {
  readonly bytes: number;
  readonly compressedBytes: number;
  readonly samples: number[];
}

/** `zstd -3` the file once, then time `zstd -d` writing a new file (as a restore does). */
export async function measureZstd(file: string, reps: number): Promise<ZstdResult> {
  const dir = path.dirname(file);
  const zst = path.join(dir, 'data.bin.zst');
  const dec = path.join(dir, 'decoded.bin');
  assertOk(await runTimed('zstd', ['-3', '-q', '-f', file, '-o', zst], { cwd: dir }), 'zstd -3');
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    rmSync(dec, { force: true });
    syncDisk();
    const s = assertOk(await runTimed('zstd', ['-d', '-q', '-f', zst, '-o', dec], { cwd: dir }), 'zstd -d');
    samples.push(s.ms);
  }
  const bytes = readFileSync(dec).length;
  const compressedBytes = readFileSync(zst).length;
  rmSync(dec, { force: true });
  return { bytes, compressedBytes, samples };
}

/** MB/s (10^6 bytes) for `bytes` in the median of `samples` ms. */
export function throughput(bytes: number, samples: readonly number[]): number {
  return bytes / 1e6 / (median(samples) / 1000);
}

export interface StrictResult {
  readonly coldMs: number[];
  readonly coldStrictMs: number[];
  readonly noopMs: number[];
  readonly noopStrictMs: number[];
}

/**
 * The cost of the hermeticity check (`run --strict`) on workload (a): cold and no-op runs with
 * and without it, alternating, in one workspace (cold = outputs and cache deleted first).
 */
export async function measureStrictOverhead(cli: string, jobs: number, dir: string, reps: number): Promise<StrictResult> {
  const w = makeWorkload('a');
  materialize(w, dir, 'reprovm');
  const run = async (strict: boolean): Promise<number> => {
    syncDisk();
    const args = [cli, '-q', '--no-progress', '-j', String(jobs), ...(strict ? ['--strict'] : []), MANIFEST];
    return assertOk(await runTimed(process.execPath, args, { cwd: dir }), `reprovm${strict ? ' --strict' : ''}`).ms;
  };
  const result: StrictResult = { coldMs: [], coldStrictMs: [], noopMs: [], noopStrictMs: [] };
  for (let i = 0; i < reps; i++) {
    for (const strict of i % 2 === 0 ? [false, true] : [true, false]) {
      deleteOutputs(dir, 'reprovm', true);
      (strict ? result.coldStrictMs : result.coldMs).push(await run(strict));
    }
  }
  await sleep(2500); // past the stat memo's racy window, as for the other no-op figures
  await run(false); // warm-up: memo entries of the last build
  for (let i = 0; i < reps; i++) {
    for (const strict of i % 2 === 0 ? [false, true] : [true, false]) (strict ? result.noopStrictMs : result.noopMs).push(await run(strict));
  }
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/**
 * The CPU cost of one new small file on the disk the workspaces live on: `n` files of 900 bytes
 * (the size of an action record), each written to a temp name and renamed into place, as the
 * cache writes them, in `dir`. Synchronous calls in this process, so `process.cpuUsage()` sees
 * the kernel time they cost. Reported beside workload (a): a cold build that must create one
 * cache record per task cannot be faster than the peers by less than this per task.
 */
export function measureFileCreation(dir: string, n = 1000): { cpuUsPerFile: number; wallUsPerFile: number } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const body = Buffer.alloc(900, 0x61);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const tmp = path.join(dir, `.r${i}.tmp`);
    writeFileSync(tmp, body, { flag: 'wx' });
    renameSync(tmp, path.join(dir, `r${i}.json`));
  }
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  rmSync(dir, { recursive: true, force: true });
  return { cpuUsPerFile: (cpu.user + cpu.system) / n, wallUsPerFile: wallUs / n };
}
