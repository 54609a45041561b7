/**
 * The scheduler's state file: when each schedule last fired, so that schedules survive a
 * restart (`catch_up` needs to know which ticks were missed while the daemon was down).
 *
 * Layout: one JSON object,
 *   { "version": 1, "entries": { "<schedule name>": { "lastFired": "<ISO time>", "cron": "...", "timezone": "..." } } }
 * `cron` and `timezone` are kept so that a schedule whose expression changed does not replay a
 * tick of its old expression.
 *
 * Durability: written whole to a temp file in the same directory, fsynced, renamed over the old
 * one, so a reader sees the old or the new state, never a torn one. A file that is missing,
 * unreadable, not JSON, or of another version is treated as empty (the only cost: no catch-up
 * on this start) and reported once through the caller's log.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

export const SCHEDULE_STATE_VERSION = 1;

/** What is remembered of one schedule. */
export interface ScheduleRecord {
  /** The tick that fired last (its scheduled time, not the moment the timer ran), ISO 8601. */
  readonly lastFired: string;
  readonly cron: string;
  readonly timezone: string;
}

export type ScheduleState = Record<string, ScheduleRecord>;

function isRecord(v: unknown): v is ScheduleRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.lastFired === 'string' && !Number.isNaN(Date.parse(r.lastFired)) && typeof r.cron === 'string' && typeof r.timezone === 'string';
}

/** Reads the state file. Never throws: anything unusable is an empty state plus a message. */
export function readScheduleState(file: string): { state: ScheduleState; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: {} };
    return { state: {}, problem: `cannot read the schedule state ${file}: ${(error as Error).message}; starting without it` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { state: {}, problem: `the schedule state ${file} is not valid JSON (torn or edited); starting without it` };
  }
  const d = doc as { version?: unknown; entries?: unknown };
  if (typeof doc !== 'object' || doc === null || d.version !== SCHEDULE_STATE_VERSION || typeof d.entries !== 'object' || d.entries === null) {
    return { state: {}, problem: `the schedule state ${file} has an unknown format; starting without it` };
  }
  const state: ScheduleState = {};
  for (const [name, rec] of Object.entries(d.entries as Record<string, unknown>)) {
    if (isRecord(rec)) state[name] = { lastFired: rec.lastFired, cron: rec.cron, timezone: rec.timezone };
  }
  return { state };
}

/** Replaces the state file atomically (creating its directory). */
export async function writeScheduleState(file: string, state: ScheduleState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const sorted = Object.fromEntries(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(file, `${JSON.stringify({ version: SCHEDULE_STATE_VERSION, entries: sorted }, null, 2)}\n`);
}
