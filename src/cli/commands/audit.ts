/**
 * `reprovm audit verify | show`: checks the audit log's hash chain and queries its entries.
 * The log is found like every maintenance command's cache: `--cache-dir`, the configured
 * `cache_dir`, else ./.reprovm; `[audit] path` overrides the file.
 */
import { Command, InvalidArgumentError } from 'commander';
import { AUDIT_EVENT_TYPES, type AuditEntry } from '../../ops/audit-format.js';
import { auditLogPath } from '../../ops/audit-log.js';
import { parseSince, queryAudit } from '../../ops/audit-query.js';
import { verifyAuditLog } from '../../ops/audit-verify.js';
import { describeError, openOpsContext, withOpsOptions, type OpsIo, type OpsOptions } from './ops-context.js';

const EXIT_OK = 0;
const EXIT_BAD = 1;
const EXIT_USAGE = 2;

interface VerifyOptions extends OpsOptions {
  json?: boolean;
}

interface ShowOptions extends OpsOptions {
  json?: boolean;
  since?: string;
  type?: string[];
  limit?: number;
}

function limitOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of entries, 1 or more');
  return n;
}

/** `--type a,b --type c` → [a, b, c]; each must be a known type or a prefix ending in `.` (`task.`). */
function typeOption(v: string, previous: string[] | undefined): string[] {
  const types = v.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of types) {
    const known = t.endsWith('.') ? AUDIT_EVENT_TYPES.some((k) => k.startsWith(t)) : (AUDIT_EVENT_TYPES as readonly string[]).includes(t);
    if (!known) throw new InvalidArgumentError(`unknown audit event type "${t}"; known: ${AUDIT_EVENT_TYPES.join(', ')} (or a prefix such as "task.")`);
  }
  return [...(previous ?? []), ...types];
}

function formatValue(v: unknown): string {
  return typeof v === 'string' && !/\s/.test(v) && v !== '' ? v : JSON.stringify(v);
}

/** One human line per entry: time, type, who, then the details as key=value. */
export function formatEntryLine(e: AuditEntry): string {
  const details = Object.entries(e.details).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
  return `${e.time}  ${e.type.padEnd(18)}  ${e.user}@${e.host}[${e.pid}]${details ? `  ${details}` : ''}`;
}

function runVerify(opts: VerifyOptions, io: OpsIo): number {
  const ctx = openOpsContext(opts, io);
  if (!ctx) return EXIT_USAGE;
  const file = auditLogPath(ctx.loaded.config, ctx.cacheDir);
  let report;
  try {
    report = verifyAuditLog(file);
  } catch (error) {
    io.stderr.write(`reprovm: error: cannot read the audit log ${file}: ${describeError(error)}\n`);
    return EXIT_BAD;
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else if (report.ok) {
    const torn = report.recoveredTornLines.length;
    io.stdout.write(`reprovm: audit log ok: ${report.entries} entries, chain intact (${file})\n`);
    if (report.headWarning !== undefined) io.stdout.write(`reprovm: warning: ${report.headWarning}; deletions at the end of the log cannot be checked\n`);
    if (torn > 0) io.stdout.write(`reprovm: note: ${torn} torn line${torn === 1 ? '' : 's'} from interrupted appends (line ${report.recoveredTornLines.join(', ')}), each closed off by an audit.torn-line entry\n`);
  } else {
    io.stderr.write(`reprovm: error: audit log ${file}: ${report.problem?.message ?? 'invalid'} (${report.entries} entries before it are intact)\n`);
  }
  return report.ok ? EXIT_OK : EXIT_BAD;
}

function runShow(opts: ShowOptions, io: OpsIo): number {
  const ctx = openOpsContext(opts, io);
  if (!ctx) return EXIT_USAGE;
  let since: Date | undefined;
  if (opts.since !== undefined) {
    since = parseSince(opts.since, new Date());
    if (!since) {
      io.stderr.write(`reprovm: error: --since "${opts.since}": expected a duration back from now (30m, 1h, 7d) or an ISO date/time (2026-01-31T12:00:00Z)\n`);
      return EXIT_USAGE;
    }
  }
  const file = auditLogPath(ctx.loaded.config, ctx.cacheDir);
  let entries: AuditEntry[];
  try {
    entries = queryAudit(file, { ...(since ? { since } : {}), ...(opts.type ? { types: opts.type } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) });
  } catch (error) {
    io.stderr.write(`reprovm: error: cannot read the audit log ${file}: ${describeError(error)}\n`);
    return EXIT_BAD;
  }
  io.stdout.write(entries.map((e) => `${opts.json ? JSON.stringify(e) : formatEntryLine(e)}\n`).join(''));
  return EXIT_OK;
}

/** Adds `audit verify` and `audit show` to the program. */
export function registerAuditCommand(program: Command, io: OpsIo, setExit: (code: number) => void): void {
  const audit = program.command('audit').description('check and query the tamper-evident audit log');
  withOpsOptions(audit.command('verify'))
    .description('check the hash chain; report the first bad entry (edited, deleted, reordered, torn); exit 1 if any')
    .option('--json', 'print the report as JSON')
    .action((opts: VerifyOptions) => setExit(runVerify(opts, io)));
  withOpsOptions(audit.command('show'))
    .description('print audit entries, oldest first')
    .option('--since <when>', 'entries from this time on: a duration back from now (30m, 1h, 7d) or an ISO date/time')
    .option('--type <types>', 'only these event types, comma-separated or repeated (a prefix such as "task." matches a group)', typeOption)
    .option('--limit <n>', 'only the newest N matching entries', limitOption)
    .option('--json', 'one JSON object per entry (the log\'s own lines)')
    .action((opts: ShowOptions) => setExit(runShow(opts, io)));
}
