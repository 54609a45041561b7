import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { ScheduleEntry } from '../../src/config/schema.js';
import { compileSchedule, ScheduleError, Scheduler, type Clock } from '../../src/server/schedule.js';
import { readScheduleState } from '../../src/server/schedule-state.js';

/** A clock whose time only moves when the test says so; due timers run in time order. */
class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];
  constructor(iso: string) {
    this.#now = Date.parse(iso);
  }
  now(): number {
    return this.#now;
  }
  setTimer(ms: number, fn: () => void): { cancel(): void } {
    const t = { at: this.#now + ms, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => void (t.live = false) };
  }
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
  /** Moves time to `iso`, running every timer that falls due on the way (with its own time as now). */
  async advanceTo(iso: string): Promise<void> {
    const target = Date.parse(iso);
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function stateFile(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'reprovm-schedule-'));
  dirs.push(d);
  return path.join(d, 'state', 'schedule-state.json');
}

function entry(over: Partial<ScheduleEntry> & { name: string; cron: string }): ScheduleEntry {
  return { timezone: 'UTC', workspace: '', targets: [], force: false, catch_up: false, ...over };
}

/** A trigger that records fire times and lets the test finish each run. */
function recorder(clock: FakeClock) {
  const fired: { name: string; at: string; finish: () => void }[] = [];
  const trigger = async (e: ScheduleEntry): Promise<{ done: Promise<unknown> }> => {
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    fired.push({ name: e.name, at: new Date(clock.now()).toISOString(), finish });
    return { done };
  };
  return { fired, trigger };
}

describe('Scheduler', () => {
  test('fires at local times across both DST changes in Europe/Berlin', async () => {
    const clock = new FakeClock('2026-03-27T12:00:00Z');
    const { fired, trigger } = recorder(clock);
    const logs: string[] = [];
    const s = new Scheduler({ entries: [entry({ name: 'nightly', cron: '0 9 * * *', timezone: 'Europe/Berlin' }), entry({ name: 'odd', cron: '30 2 * * *', timezone: 'Europe/Berlin' })], clock, stateFile: stateFile(), trigger, log: (m) => logs.push(m) });
    s.start();
    assert.equal(s.list().find((e) => e.name === 'nightly')?.next, '2026-03-28T08:00:00.000Z');
    for (const day of ['2026-03-28', '2026-03-29', '2026-03-30']) {
      await clock.advanceTo(`${day}T23:00:00Z`);
      for (const f of fired) f.finish();
      await settle();
    }
    assert.deepEqual(
      fired.filter((f) => f.name === 'nightly').map((f) => f.at),
      ['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z'], // 09:00 CET, then 09:00 CEST
    );
    // 02:30 does not exist on 29 March (02:00 → 03:00): it fires at 03:00 local that day.
    assert.deepEqual(
      fired.filter((f) => f.name === 'odd').map((f) => f.at),
      ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
    );
    s.stop();

    // Fall back on 25 October: 02:30 exists twice and fires once.
    const autumn = new FakeClock('2026-10-24T12:00:00Z');
    const rec = recorder(autumn);
    const t = new Scheduler({ entries: [entry({ name: 'odd', cron: '30 2 * * *', timezone: 'Europe/Berlin' })], clock: autumn, stateFile: stateFile(), trigger: rec.trigger, log: () => undefined });
    t.start();
    for (const day of ['2026-10-25', '2026-10-26']) {
      await autumn.advanceTo(`${day}T23:00:00Z`);
      for (const f of rec.fired) f.finish();
      await settle();
    }
    assert.deepEqual(rec.fired.map((f) => f.at), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    t.stop();
  });

  test('a tick while the previous run of the same schedule is running is skipped and logged', async () => {
    const clock = new FakeClock('2026-05-01T10:00:30Z');
    const { fired, trigger } = recorder(clock);
    const logs: string[] = [];
    const s = new Scheduler({ entries: [entry({ name: 'often', cron: '* * * * *' }), entry({ name: 'other', cron: '* * * * *' })], clock, stateFile: stateFile(), trigger, log: (m) => logs.push(m) });
    s.start();
    await clock.advanceTo('2026-05-01T10:01:00Z');
    assert.deepEqual(fired.map((f) => f.name), ['often', 'other']);
    assert.equal(s.list()[0]?.running, true);
    fired[1]!.finish(); // "other" finishes, "often" keeps running
    await clock.advanceTo('2026-05-01T10:02:00Z');
    fired[2]?.finish();
    await clock.advanceTo('2026-05-01T10:03:00Z');
    assert.deepEqual(fired.map((f) => `${f.name}@${f.at.slice(11, 16)}`), ['often@10:01', 'other@10:01', 'other@10:02', 'other@10:03']);
    assert.equal(fired.filter((f) => f.name === 'often').length, 1, 'not stacked');
    assert.equal(logs.filter((l) => /^schedule "often": tick of 2026-05-01T10:0[23]:00\.000Z skipped: the run it started before is still running$/.test(l)).length, 2);
    fired[0]!.finish();
    await settle();
    assert.equal(s.list()[0]?.running, false);
    await clock.advanceTo('2026-05-01T10:04:00Z');
    assert.equal(fired.filter((f) => f.name === 'often').length, 2, 'fires again once the run is done');
    assert.equal(s.list()[0]?.lastFired, '2026-05-01T10:04:00.000Z');
    assert.equal(s.list()[0]?.next, '2026-05-01T10:05:00.000Z');
    s.stop();
    assert.equal(clock.pending, 0);
    assert.equal(s.list()[0]?.next, null);
  });

  test('a trigger that fails is logged and the schedule keeps going', async () => {
    const clock = new FakeClock('2026-05-01T10:00:30Z');
    const logs: string[] = [];
    let calls = 0;
    const s = new Scheduler({
      entries: [entry({ name: 'q', cron: '* * * * *' })],
      clock,
      stateFile: stateFile(),
      trigger: async () => {
        calls++;
        throw new Error('queue full');
      },
      log: (m) => logs.push(m),
    });
    s.start();
    await clock.advanceTo('2026-05-01T10:02:00Z');
    assert.equal(calls, 2);
    assert.ok(logs.includes('schedule "q": tick of 2026-05-01T10:01:00.000Z: the run could not be queued: queue full'));
    assert.equal(s.list()[0]?.running, false);
    s.stop();
  });

  test('state survives a restart; missed ticks are not replayed without catch_up', async () => {
    const file = stateFile();
    const clock = new FakeClock('2026-06-01T02:00:00Z');
    const first = recorder(clock);
    const e = entry({ name: 'n', cron: '0 3 * * *' });
    const s1 = new Scheduler({ entries: [e], clock, stateFile: file, trigger: first.trigger, log: () => undefined });
    s1.start();
    await clock.advanceTo('2026-06-01T04:00:00Z');
    first.fired[0]!.finish();
    await s1.flush();
    s1.stop();
    assert.equal(readScheduleState(file).state.n?.lastFired, '2026-06-01T03:00:00.000Z');

    // Down for three days: three ticks missed.
    const later = new FakeClock('2026-06-04T12:00:00Z');
    const second = recorder(later);
    const s2 = new Scheduler({ entries: [e], clock: later, stateFile: file, trigger: second.trigger, log: () => undefined });
    s2.start();
    await later.advanceTo('2026-06-04T12:00:01Z');
    assert.equal(second.fired.length, 0);
    assert.deepEqual(s2.list()[0], { name: 'n', cron: '0 3 * * *', timezone: 'UTC', targets: [], next: '2026-06-05T03:00:00.000Z', lastFired: '2026-06-01T03:00:00.000Z', running: false });
    s2.stop();
  });

  test('catch_up = 1 replays exactly one missed tick (the last), then runs on schedule', async () => {
    const file = stateFile();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ version: 1, entries: { n: { lastFired: '2026-06-01T03:00:00.000Z', cron: '0 3 * * *', timezone: 'UTC' } } }));
    const clock = new FakeClock('2026-06-04T12:00:00Z');
    const { fired, trigger } = recorder(clock);
    const logs: string[] = [];
    const s = new Scheduler({ entries: [entry({ name: 'n', cron: '0 3 * * *', catch_up: true })], clock, stateFile: file, trigger, log: (m) => logs.push(m) });
    s.start();
    await settle();
    assert.equal(fired.length, 1, 'one replay for three missed ticks');
    assert.ok(logs.includes('schedule "n": catching up the tick of 2026-06-04T03:00:00.000Z missed while stopped'));
    assert.equal(s.list()[0]?.lastFired, '2026-06-04T03:00:00.000Z');
    fired[0]!.finish();
    await settle();
    await clock.advanceTo('2026-06-05T03:00:00Z');
    assert.deepEqual(fired.map((f) => f.at), ['2026-06-04T12:00:00.000Z', '2026-06-05T03:00:00.000Z']);
    await s.flush();
    s.stop();
    assert.equal(readScheduleState(file).state.n?.lastFired, '2026-06-05T03:00:00.000Z');

    // Restarted again before the next tick: nothing was missed, nothing replayed.
    const again = recorder(clock);
    const s2 = new Scheduler({ entries: [entry({ name: 'n', cron: '0 3 * * *', catch_up: true })], clock, stateFile: file, trigger: again.trigger, log: () => undefined });
    s2.start();
    await settle();
    assert.equal(again.fired.length, 0);
    s2.stop();
  });

  test('catch_up ignores a record of a different cron expression, and a corrupt state file', async () => {
    const file = stateFile();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ version: 1, entries: { n: { lastFired: '2026-06-01T03:00:00.000Z', cron: '0 4 * * *', timezone: 'UTC' } } }));
    const clock = new FakeClock('2026-06-04T12:00:00Z');
    const rec = recorder(clock);
    const s = new Scheduler({ entries: [entry({ name: 'n', cron: '0 3 * * *', catch_up: true })], clock, stateFile: file, trigger: rec.trigger, log: () => undefined });
    s.start();
    await settle();
    assert.equal(rec.fired.length, 0);
    assert.equal(s.list()[0]?.lastFired, null);
    s.stop();

    writeFileSync(file, '{"version": 1, "entries": {"n": {"lastF');
    const logs: string[] = [];
    const s2 = new Scheduler({ entries: [entry({ name: 'n', cron: '0 3 * * *', catch_up: true })], clock, stateFile: file, trigger: rec.trigger, log: (m) => logs.push(m) });
    s2.start();
    await settle();
    assert.equal(rec.fired.length, 0);
    assert.match(logs[0] ?? '', /is not valid JSON \(torn or edited\); starting without it$/);
    s2.stop();
    assert.ok(readFileSync(file, 'utf8').includes('lastF'), 'nothing written without a tick');
  });

  test('a reload takes over the running run and the last fire time; nothing is caught up or stacked', async () => {
    const file = stateFile();
    const clock = new FakeClock('2026-05-01T10:00:30Z');
    const { fired, trigger } = recorder(clock);
    const e = entry({ name: 'often', cron: '* * * * *', catch_up: true });
    const old = new Scheduler({ entries: [e, entry({ name: 'gone', cron: '* * * * *' })], clock, stateFile: file, trigger, log: () => undefined });
    old.start();
    await clock.advanceTo('2026-05-01T10:01:00Z');
    assert.equal(fired.length, 2);
    // SIGHUP: "gone" is removed; "often" keeps its expression; its run is still going.
    const logs: string[] = [];
    const next = new Scheduler({ entries: [e], clock, stateFile: file, trigger, log: (m) => logs.push(m) });
    old.stop();
    next.start(old);
    await settle();
    assert.equal(fired.length, 2, 'no catch-up on reload');
    assert.deepEqual(next.list().map((x) => [x.name, x.lastFired, x.running]), [['often', '2026-05-01T10:01:00.000Z', true]]);
    await clock.advanceTo('2026-05-01T10:02:00Z');
    assert.equal(fired.length, 2, 'the run started before the reload still blocks the tick');
    assert.ok(logs.some((l) => l.startsWith('schedule "often": tick of 2026-05-01T10:02:00.000Z skipped')));
    fired[0]!.finish();
    await settle();
    assert.equal(next.list()[0]?.running, false);
    await clock.advanceTo('2026-05-01T10:03:00Z');
    assert.deepEqual(fired.map((f) => f.name), ['often', 'gone', 'often']);
    await next.flush();
    next.stop();
    assert.equal(readScheduleState(file).state.often?.lastFired, '2026-05-01T10:03:00.000Z');
  });

  test('a far-away tick waits in timer steps of at most 2^31-1 ms', async () => {
    const clock = new FakeClock('2026-01-02T00:00:00Z');
    const { fired, trigger } = recorder(clock);
    const s = new Scheduler({ entries: [entry({ name: 'yearly', cron: '0 0 1 1 *' })], clock, stateFile: stateFile(), trigger, log: () => undefined });
    s.start();
    await clock.advanceTo('2026-12-31T23:59:59Z');
    assert.equal(fired.length, 0);
    await clock.advanceTo('2027-01-01T00:00:00Z');
    assert.deepEqual(fired.map((f) => f.at), ['2027-01-01T00:00:00.000Z']);
    s.stop();
  });

  test('invalid entries are one clear config error each', () => {
    const bad = [
      entry({ name: 'a', cron: '61 * * * *' }),
      entry({ name: 'b', cron: '' }),
      entry({ name: 'c', cron: '0 3 * * *', timezone: 'Mars/Olympus' }),
      entry({ name: 'd', cron: '* * *' }),
      entry({ name: 'e', cron: '0 0 30 2 *' }),
      entry({ name: 'ok', cron: '0 3 * * 1-5' }),
    ];
    assert.throws(
      () => new Scheduler({ entries: bad, clock: new FakeClock('2026-01-01T00:00:00Z'), stateFile: stateFile(), trigger: async () => ({ done: Promise.resolve() }), log: () => undefined }),
      (e: unknown) => {
        assert.ok(e instanceof ScheduleError);
        assert.deepEqual(e.message.split('\n'), [
          '[schedule.a]: invalid cron expression "61 * * * *": Invalid value for minute: 61; use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first',
          '[schedule.b]: cron is empty; give an expression such as cron = "0 3 * * *" (minute hour day-of-month month day-of-week)',
          '[schedule.c]: unknown time zone "Mars/Olympus"; use an IANA name such as UTC or Europe/Berlin',
          '[schedule.d]: invalid cron expression "* * *": invalid configuration format (\'* * *\'), exactly five, six, or seven space separated parts are required.; use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first',
          '[schedule.e]: cron expression "0 0 30 2 *" never fires',
        ]);
        return true;
      },
    );
    assert.ok(!(compileSchedule(entry({ name: 'ok', cron: '0 3 * * 1-5', timezone: 'America/New_York' })) instanceof ScheduleError));
  });
});
