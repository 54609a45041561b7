/**
 * Remote cache scenario (section `remote`): s3rver on loopback.
 *
 * - fill: a workspace built locally, then `reprovm cache push` of everything (1,000 small
 *   outputs; 20 × 50 MB outputs) into an empty bucket;
 * - restore: a fresh workspace building with `--remote`: every task restored from the remote;
 * - peer: a plain @aws-sdk/client-s3 loop (bench/sdk-loop.mjs) putting (getting) the same
 *   objects — every blob and every action record — with the same concurrency (8; multipart
 *   with the adapter's part size for large ones), run as a program of its own and timed from
 *   process start to exit, as reprovm is (and as make and ninja are in the other sections). It
 *   pays Node's start, loading the SDK and a cold JIT, but no hashing, no verification and no
 *   restore. The targets compare with it;
 * - the same loop inside this long-lived process (its JIT warm from the earlier repetitions, no
 *   process start) is reported beside it, as the SDK's best case;
 * - dead remote: a cold build of 120 tasks (0.1 s each, -j 8) with `--remote`, s3rver killed
 *   0.5 s into the run, against the same build without a remote.
 *
 * `sync` runs (untimed) before every timed run, as in the other sections, so that no run pays
 * for the write-back of the one before it. Nor does a run pay for the bench's own clean-up (see
 * {@link Scratch}): on ext4 without a journal the kernel skips inodes freed in the last minutes
 * when it allocates new ones (fs/ext4/ialloc.c, recently_deleted()), so a run right after the
 * deletion of thousands of files pays a scan for every file it creates (here 20-40 µs per new
 * file normally, 500-700 µs after such a deletion).
 * Before the timed runs of each size, one untimed round of the loop program (its own bucket)
 * takes s3rver through its put and get paths: a freshly started s3rver answered the first 1,000
 * GETs 0.3-0.5 s slower than the next 1,000, whoever sent them.
 * Fill, restore and both loops are repeated `reps` times (a fresh bucket and workspace each
 * time; the loop program right before reprovm in even repetitions, right after it in odd
 * ones): the figures are medians, and the ratio's range over the repetitions is reported too,
 * because the machine is shared.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertOk, median, runTimed } from './measure.js';
import type { MicroRow, Target } from './report.js';
import { syncDisk } from './scenarios.js';
import { getAll, openClient, putAll } from './sdk-loop.mjs';

const CONCURRENCY = 8;
const S3RVER = fileURLToPath(new URL('../node_modules/s3rver/bin/s3rver.js', import.meta.url));
const SDK_LOOP = fileURLToPath(new URL('./sdk-loop.mjs', import.meta.url));
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export interface RemoteResult {
  readonly rows: MicroRow[];
  readonly targets: Target[];
  readonly notes: string[];
}

/**
 * Where the section's workspaces, downloads and buckets go once every timed run of a repetition
 * is done with them. Trees of many small files are moved aside (one rename) and deleted only
 * when the section ends, so that no timed run creates its files right after thousands were
 * freed (see the module comment); trees of a few large files are deleted, which frees their
 * memory for later repetitions. Not between the timed runs of one repetition: on this VM,
 * writing into memory freed a moment ago is much cheaper than into memory freed seconds before
 * (which the host has taken back by then: perf shows the kernel's copy into new page-cache
 * pages as half of a large restore's CPU), so a run right after a deletion would be favoured.
 */
class Scratch {
  readonly #trash: string;
  #n = 0;

  constructor(dir: string) {
    this.#trash = path.join(dir, 'trash');
    mkdirSync(this.#trash, { recursive: true });
  }

  discard(dir: string, manyFiles: boolean): void {
    if (!existsSync(dir)) return;
    if (manyFiles) renameSync(dir, path.join(this.#trash, String(this.#n++)));
    else rmSync(dir, { recursive: true, force: true });
  }

  empty(): void {
    rmSync(this.#trash, { recursive: true, force: true });
  }
}

interface Server {
  readonly endpoint: string;
  /** s3rver's data directory: a directory per bucket. */
  readonly dir: string;
  readonly child: ChildProcess;
}

async function startS3rver(dir: string): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, ['--openssl-legacy-provider', S3RVER, '-d', dir, '-a', '127.0.0.1', '-p', '0', '-s'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`s3rver exited: ${out}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child, dir };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGKILL');
  await gone;
}

function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...CREDS, ...extra };
}

function workspace(dir: string, tasks: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'manifest.txt'), tasks.join('\n'));
  return dir;
}

const small = (i: number): string => `task s${i} {\n  cmd = mkdir -p out && printf 'output %s %s\\n' ${i} "$(date +%N)" > out/s${i}.txt\n  outputs = out/s${i}.txt\n}\n`;
const large = (i: number): string => `task l${i} {\n  cmd = head -c 50000000 /dev/urandom > l${i}.bin\n  outputs = l${i}.bin\n}\n`;
const slow = (i: number): string => `task d${i} {\n  cmd = sleep 0.1 && echo ${i} > d${i}.txt\n  outputs = d${i}.txt\n}\n`;

/** What reprovm moves for a local cache, as [remote key, local file, size]: every object and every action record. */
function objects(cacheDir: string): [string, string, number][] {
  const root = path.join(cacheDir, 'cas', 'objects');
  // Small outputs live inside their records (inline_max_bytes): then there may be no objects at all.
  const blobs = (existsSync(root) ? readdirSync(root) : []).flatMap((sub) =>
    readdirSync(path.join(root, sub)).map((name): [string, string, number] => {
      const p = path.join(root, sub, name);
      return [`cas/${sub}${name}`, p, statSync(p).size];
    }),
  );
  const recs = readdirSync(path.join(cacheDir, 'cache'))
    .filter((n) => n.endsWith('.json'))
    .map((n): [string, string, number] => {
      const p = path.join(cacheDir, 'cache', n);
      return [`ac/${n}`, p, statSync(p).size];
    });
  return [...blobs, ...recs];
}

/** The peer program: put, then get every object with CONCURRENCY at once, each a process of its own. Returns [putMs, getMs]. */
async function peerLoop(endpoint: string, bucket: string, files: readonly [string, string, number][], scratch: string): Promise<[number, number]> {
  mkdirSync(scratch, { recursive: true });
  const list = path.join(scratch, 'objects.json');
  writeFileSync(list, JSON.stringify(files));
  const run = async (mode: 'put' | 'get'): Promise<number> => {
    syncDisk();
    return assertOk(await runTimed(process.execPath, [SDK_LOOP, mode, endpoint, bucket, list, path.join(scratch, 'got'), String(CONCURRENCY)], { cwd: scratch, env: cliEnv() }), `SDK loop ${mode}`).ms;
  };
  return [await run('put'), await run('get')];
}

/** The same loop in this process: put then get every object with CONCURRENCY at once. Returns [putMs, getMs]. */
async function sdkLoop(endpoint: string, bucket: string, files: readonly [string, string, number][], scratch: string): Promise<[number, number]> {
  const client = openClient(endpoint, { accessKeyId: CREDS.AWS_ACCESS_KEY_ID, secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY });
  try {
    syncDisk();
    const t0 = performance.now();
    await putAll(client, bucket, files, CONCURRENCY);
    const putMs = performance.now() - t0;
    syncDisk();
    const t1 = performance.now();
    await getAll(client, bucket, files, scratch, CONCURRENCY);
    return [putMs, performance.now() - t1];
  } finally {
    client.destroy();
  }
}

interface Transfer {
  readonly label: string;
  readonly objects: number;
  readonly bytes: number;
  readonly fillMs: number;
  readonly restoreMs: number;
  /** The peer program (process start to exit). */
  readonly peerPutMs: number;
  readonly peerGetMs: number;
  /** The loop inside the bench process. */
  readonly sdkPutMs: number;
  readonly sdkGetMs: number;
  /** Per repetition: peer time / reprovm time. */
  readonly fillRatios: number[];
  readonly restoreRatios: number[];
}

async function transfer(cli: string, dir: string, server: Server, scratch: Scratch, label: string, tasks: readonly string[], jobs: number, reps: number, log: (l: string) => void): Promise<Transfer> {
  const a = workspace(path.join(dir, `${label}-a`), tasks);
  assertOk(await runTimed(process.execPath, [cli, '-q', '-j', String(jobs), 'manifest.txt'], { cwd: a, env: cliEnv() }), `${label}: local build`);
  const files = objects(path.join(a, '.reprovm'));
  const bytes = files.reduce((s, f) => s + f[2], 0);
  const fills: number[] = [];
  const restores: number[] = [];
  const peerPuts: number[] = [];
  const peerGets: number[] = [];
  const puts: number[] = [];
  const gets: number[] = [];
  const what = `${files.length} objects, ${(bytes / 1e6).toFixed(0)} MB`;
  // Untimed: one round of the loop program through the server's put and get paths (a bucket of
  // its own), so that the first timed runs do not pay for the JIT warm-up of a freshly started
  // s3rver: measured here, the first 1,000 GETs against a new s3rver took 0.3-0.5 s longer than
  // the next 1,000, whoever sent them.
  await peerLoop(server.endpoint, `bench-${label.replace(/[^a-z0-9]/g, '')}-warm`, files, path.join(dir, `${label}-warm`));
  scratch.discard(path.join(dir, `${label}-warm`), label === 'small');
  log(`bench: remote ${label}: s3rver warmed up (one untimed round of the loop program)`);
  for (let r = 0; r < reps; r++) {
    const bucket = `bench-${label.replace(/[^a-z0-9]/g, '')}-${r}`;
    const remote = ['--remote', `s3://${bucket}/p`, '--remote-endpoint', server.endpoint];
    const peer = async (): Promise<[number, number]> => {
      const ms = await peerLoop(server.endpoint, `${bucket}-peer`, files, path.join(dir, `${label}-peer`));
      log(`bench: remote ${label} #${r + 1}: SDK loop program put ${(ms[0] / 1000).toFixed(2)} s, get ${(ms[1] / 1000).toFixed(2)} s (${what})`);
      return ms;
    };
    // Whoever goes first in a repetition meets the server (and the machine) as the one before
    // left it: the order alternates, reprovm first in the 1st, 3rd, ... repetition, the loop
    // program first in the 2nd, 4th, ...
    const peerFirst = r % 2 === 1;
    const early = peerFirst ? await peer() : undefined;
    assertOk(await runTimed(process.execPath, [cli, 'cache', 'init-remote', ...remote], { cwd: a, env: cliEnv() }), 'init-remote');
    syncDisk();
    const fill = assertOk(await runTimed(process.execPath, [cli, 'cache', 'push', ...remote, '--cache-dir', '.reprovm', '--json'], { cwd: a, env: cliEnv(), captureStdout: true }), `${label}: push`);
    log(`bench: remote ${label} #${r + 1}: fill ${(fill.ms / 1000).toFixed(2)} s: ${fill.stdout.trim()}`);
    const b = workspace(path.join(dir, `${label}-b${r}`), tasks);
    syncDisk();
    const restore = assertOk(await runTimed(process.execPath, [cli, '-q', '-j', String(jobs), ...remote, 'manifest.txt'], { cwd: b, env: cliEnv(), captureStdout: true }), `${label}: restore`);
    if (!/0 executed/.test(restore.stdout)) throw new Error(`${label}: restore executed tasks: ${restore.stdout}`);
    log(`bench: remote ${label} #${r + 1}: restore ${(restore.ms / 1000).toFixed(2)} s: ${restore.stdout.trim().split('\n').at(-1) ?? ''}`);
    const [peerPutMs, peerGetMs] = early ?? (await peer());
    const [sdkPutMs, sdkGetMs] = await sdkLoop(server.endpoint, `${bucket}-sdk`, files, path.join(dir, `${label}-sdk`));
    log(`bench: remote ${label} #${r + 1}: SDK loop in the bench process put ${(sdkPutMs / 1000).toFixed(2)} s, get ${(sdkGetMs / 1000).toFixed(2)} s`);
    // Only now, after every timed run of the repetition, so that no run writes into memory another
    // one just freed (see Scratch). This repetition's buckets are never read again (s3rver keeps a
    // bucket in a directory).
    const many = label === 'small';
    for (const tree of [b, path.join(dir, `${label}-peer`), path.join(dir, `${label}-sdk`)]) scratch.discard(tree, many);
    for (const name of [bucket, `${bucket}-peer`, `${bucket}-sdk`]) scratch.discard(path.join(server.dir, name), many);
    fills.push(fill.ms);
    restores.push(restore.ms);
    peerPuts.push(peerPutMs);
    peerGets.push(peerGetMs);
    puts.push(sdkPutMs);
    gets.push(sdkGetMs);
  }
  return {
    label, objects: files.length, bytes,
    fillMs: median(fills), restoreMs: median(restores),
    peerPutMs: median(peerPuts), peerGetMs: median(peerGets),
    sdkPutMs: median(puts), sdkGetMs: median(gets),
    fillRatios: peerPuts.map((p, i) => p / (fills[i] ?? p)),
    restoreRatios: peerGets.map((g, i) => g / (restores[i] ?? g)),
  };
}

async function deadRemote(cli: string, dir: string, jobs: number, reps: number): Promise<{ localMs: number; aliveMs: number; deadMs: number; all: string }> {
  const tasks = Array.from({ length: 120 }, (_, i) => slow(i));
  const local: number[] = [];
  const alive: number[] = [];
  const dead: number[] = [];
  const build = async (name: string, extra: readonly string[], killAfterMs?: number): Promise<number> => {
    const server = extra.length > 0 ? await startS3rver(path.join(dir, `${name}-s3`)) : undefined;
    const remote = server ? [...extra, '--remote-endpoint', server.endpoint] : [];
    const ws = workspace(path.join(dir, name), tasks);
    if (server) assertOk(await runTimed(process.execPath, [cli, 'cache', 'init-remote', ...remote], { cwd: ws, env: cliEnv() }), 'init-remote');
    const killer = server && killAfterMs !== undefined ? setTimeout(() => void stopServer(server), killAfterMs) : undefined;
    const ms = assertOk(await runTimed(process.execPath, [cli, '-q', '-j', String(jobs), ...remote, 'manifest.txt'], { cwd: ws, env: cliEnv() }), name).ms;
    clearTimeout(killer);
    if (server) await stopServer(server);
    return ms;
  };
  for (let r = 0; r < reps; r++) {
    local.push(await build(`local-${r}`, []));
    alive.push(await build(`alive-${r}`, ['--remote', 's3://bench-alive/p']));
    dead.push(await build(`dead-${r}`, ['--remote', 's3://bench-dead/p'], 500));
  }
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join('/');
  return { localMs: median(local), aliveMs: median(alive), deadMs: median(dead), all: `local ${list(local)} ms, alive ${list(alive)} ms, dead ${list(dead)} ms` };
}

const mbs = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(bytes < 1e8 ? 2 : 0)} MB/s`;
const ops = (n: number, ms: number): string => `${(n / (ms / 1000)).toFixed(0)} objects/s`;

/** Runs the remote scenario; `cli` is bin/reprovm.js, `dir` a scratch directory of this run. */
export async function measureRemote(cli: string, dir: string, jobs: number, reps: number, log: (l: string) => void): Promise<RemoteResult> {
  const scratch = new Scratch(dir);
  const server = await startS3rver(path.join(dir, 's3'));
  const results: Transfer[] = [];
  try {
    results.push(await transfer(cli, dir, server, scratch, 'small', Array.from({ length: 1000 }, (_, i) => small(i)), jobs, reps, log));
    results.push(await transfer(cli, dir, server, scratch, 'large', Array.from({ length: 20 }, (_, i) => large(i)), jobs, reps, log));
  } finally {
    await stopServer(server);
  }
  const dead = await deadRemote(cli, dir, jobs, reps);
  scratch.empty();
  log(`bench: remote killed mid-run: ${dead.deadMs.toFixed(0)} ms vs local-only ${dead.localMs.toFixed(0)} ms (healthy remote ${dead.aliveMs.toFixed(0)} ms); runs: ${dead.all}`);
  const rows: MicroRow[] = [];
  const targets: Target[] = [];
  for (const t of results) {
    const what = t.label === 'small' ? '1,000 small outputs' : '20 × 50 MB outputs';
    rows.push({ name: `remote fill (cache push), ${what}: ${t.objects} objects, ${(t.bytes / 1e6).toFixed(1)} MB`, value: `${mbs(t.bytes, t.fillMs)}, ${ops(t.objects, t.fillMs)}` });
    rows.push({ name: `remote restore (fresh workspace, --remote), ${what}`, value: `${mbs(t.bytes, t.restoreMs)}, ${ops(t.objects, t.restoreMs)}` });
    rows.push({ name: `plain SDK loop program (sdk-loop.mjs, process start to exit) put / get, ${what} (concurrency ${CONCURRENCY})`, value: `${mbs(t.bytes, t.peerPutMs)} / ${mbs(t.bytes, t.peerGetMs)}` });
    rows.push({ name: `the same loop inside the bench process (warm JIT, no process start) put / get, ${what}`, value: `${mbs(t.bytes, t.sdkPutMs)} / ${mbs(t.bytes, t.sdkGetMs)}` });
    rows.push({ name: `reprovm fill / restore vs the in-process loop, ${what}`, value: `${(t.sdkPutMs / t.fillMs).toFixed(2)}× / ${(t.sdkGetMs / t.restoreMs).toFixed(2)}×` });
    for (const [dirn, ours, sdk, ratios] of [['fill', t.fillMs, t.peerPutMs, t.fillRatios], ['restore', t.restoreMs, t.peerGetMs, t.restoreRatios]] as const) {
      // Pass/fail on the median of the per-repetition ratios (each pairs runs made back to back).
      const ratio = median(ratios);
      const range = ratios.length > 1 ? ` (median of ${ratios.length}; ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×)` : '';
      targets.push({ name: `remote ${dirn} vs plain SDK loop program, ${what}`, measured: `${(ours / 1000).toFixed(2)} s vs ${(sdk / 1000).toFixed(2)} s = ${ratio.toFixed(2)}×${range}`, threshold: '≥ 0.8×', pass: ratio >= 0.8 });
    }
  }
  const overhead = dead.deadMs / dead.localMs - 1;
  rows.push({
    name: '120 tasks × 0.1 s, cold, -j 8: local-only / healthy remote (uploads) / remote killed 0.5 s into the run',
    value: `${(dead.localMs / 1000).toFixed(2)} s / ${(dead.aliveMs / 1000).toFixed(2)} s / ${(dead.deadMs / 1000).toFixed(2)} s`,
  });
  targets.push({ name: 'remote killed mid-run: overhead vs local-only', measured: `${(overhead * 100).toFixed(1)}%`, threshold: '< 10%', pass: overhead < 0.1 });
  const notes = [
    `remote: s3rver on loopback; the peer is bench/sdk-loop.mjs run as a program, timed like reprovm from process start to exit. Before the timed runs of each size, one untimed round of the loop program warms s3rver up (against a freshly started s3rver the first 1,000 GETs took 0.3-0.5 s longer than the next, whoever sent them), and the order alternates: reprovm first in the 1st and 3rd repetitions, the loop program first in the 2nd. \`sync\` before every timed run; a repetition's workspaces, downloads and buckets are discarded only after all its timed runs, those of small files moved aside until the section ends (on this file system, ext4 without a journal, new files cost 500-700 µs instead of 20-40 µs each for minutes after thousands were deleted; and on this VM writing into memory freed a moment ago is much cheaper than into memory freed seconds before, so no timed run follows a deletion).`,
  ];
  return { rows, targets, notes };
}
