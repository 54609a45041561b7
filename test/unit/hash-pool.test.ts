import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HashPool, MAX_JOBS, SLOT_SIZE, type HashJob } from '../../src/cas/hash-pool.js';

async function untilOnWorker(pool: HashPool): Promise<void> {
  pool.warmUp();
  for (let i = 0; i < 500 && !pool.onWorker; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(pool.onWorker, 'worker came online');
}

/** Feed `data` through a job slot by slot, the way copyVerified does. */
async function hashThrough(job: HashJob, data: Buffer): Promise<string> {
  const pending: Promise<void>[] = [];
  for (let off = 0, i = 0; off < data.length; off += SLOT_SIZE, i = (i + 1) % job.slots.length) {
    await pending[i];
    const n = data.copy(job.slots[i]!, 0, off, off + SLOT_SIZE);
    pending[i] = job.update(i, n);
  }
  await Promise.all(pending);
  return job.digest();
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('HashPool', () => {
  it('hashes inline before the worker is up, then on the worker', async () => {
    const pool = new HashPool();
    const data = randomBytes(5 * SLOT_SIZE + 123);
    const first = await pool.acquire(100); // small hint: no worker started
    assert.equal(pool.onWorker, false);
    assert.equal(await hashThrough(first, data), sha(data));
    await untilOnWorker(pool);
    const jobs = await Promise.all([1, 2, 3].map(() => pool.acquire(1 << 30)));
    const datas = jobs.map(() => randomBytes(3 * SLOT_SIZE + 7));
    const digests = await Promise.all(jobs.map((j, k) => hashThrough(j, datas[k]!)));
    assert.deepEqual(digests, datas.map(sha));
    await pool.close();
  });

  it('limits concurrent jobs and hands out the next one when a job ends', async () => {
    const pool = new HashPool();
    const jobs = await Promise.all(Array.from({ length: MAX_JOBS }, () => pool.acquire(0)));
    let extra: HashJob | undefined; // the job one past the limit
    const waiting = pool.acquire(0).then((j) => (extra = j));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(extra, undefined, 'the job past the limit waits');
    await jobs[0]!.abort();
    await waiting;
    assert.ok(extra);
    await Promise.all([...jobs.slice(1), extra].map((j) => j.digest()));
    await pool.close();
  });

  it('an aborted worker job releases its slot and later jobs still hash correctly', async () => {
    const pool = new HashPool();
    await untilOnWorker(pool);
    const job = await pool.acquire(1 << 30);
    job.slots[0]!.fill(1);
    await job.update(0, 100);
    await job.abort();
    const data = randomBytes(2 * SLOT_SIZE);
    assert.equal(await hashThrough(await pool.acquire(1 << 30), data), sha(data));
    await pool.close();
  });

  it('falls back to inline hashing once the worker is gone', async () => {
    const pool = new HashPool();
    await untilOnWorker(pool);
    await pool.close();
    const data = randomBytes(SLOT_SIZE + 1);
    assert.equal(await hashThrough(await pool.acquire(1 << 30), data), sha(data));
  });
});
