/**
 * Route handlers of the tasks and runs (operationIds of openapi.yaml): listing tasks, one
 * task's detail, queueing runs, listing and reading runs, their SSE event stream, task logs
 * and cancelling.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';
import { pickWorkspace, type ServerContext } from './context.js';
import { parseEventLine, type RunStatus } from './run-record.js';
import { SseStream } from './sse-stream.js';
import { checkTargets, describeTask, listTasks } from './task-view.js';

type Query = { workspace?: string; limit?: number; offset?: number; status?: RunStatus };
type RunBody = { targets?: string[]; force?: boolean; jobs?: number; keepGoing?: boolean } | undefined | null;

/** Who made the request, as recorded by the auth hook. */
export type CallerOf = (req: FastifyRequest) => string;

const SSE_KEEPALIVE_MS = 15_000;

/** The service handlers for tasks and runs. */
export function runHandlers(ctx: ServerContext, callerOf: CallerOf) {
  const createRun = async (req: FastifyRequest, reply: FastifyReply) => {
    const ws = pickWorkspace(ctx, (req.query as Query).workspace);
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as NonNullable<RunBody>;
    const targets = body.targets ?? [];
    checkTargets(ctx.manifests.graph(ws), targets);
    const run = ctx.runs.enqueue(
      ws.name,
      { targets, force: body.force === true, jobs: body.jobs ?? null, keepGoing: body.keepGoing === true },
      `api:${callerOf(req)}`,
    );
    return reply.code(202).send({ id: run.id, status: run.status, workspace: run.workspace });
  };

  return {
    async listTasks(req: FastifyRequest) {
      const ws = pickWorkspace(ctx, (req.query as Query).workspace);
      return { workspace: ws.name, tasks: listTasks(ctx.manifests.graph(ws), ctx.manifests.state(ws)) };
    },

    async getTask(req: FastifyRequest) {
      const ws = pickWorkspace(ctx, (req.query as Query).workspace);
      const { name } = req.params as { name: string };
      return describeTask(ws, ctx.manifests.graph(ws), ctx.manifests.state(ws), name, ctx.runs, ctx.env);
    },

    createRun,
    createRunAlias: createRun,

    async listRuns(req: FastifyRequest) {
      const q = req.query as Query;
      const ws = pickWorkspace(ctx, q.workspace);
      const limit = q.limit ?? 50;
      const offset = q.offset ?? 0;
      const all = ctx.runs.list(ws.name, q.status);
      return { runs: all.slice(offset, offset + limit), total: all.length, limit, offset };
    },

    async getRun(req: FastifyRequest) {
      return ctx.runs.get((req.params as { id: string }).id);
    },

    async cancelRun(req: FastifyRequest) {
      return ctx.runs.cancel((req.params as { id: string }).id, `cancelled by ${callerOf(req)}`);
    },

    async getRunTaskLog(req: FastifyRequest, reply: FastifyReply) {
      const { id, task } = req.params as { id: string; task: string };
      const lines = ctx.runs.eventLines(id);
      let inRun = false;
      const out: string[] = [];
      for (const l of lines) {
        const e = parseEventLine(l);
        if (!e) continue;
        if (e.type === 'run-started' && e.tasks.includes(task)) inRun = true;
        if ('task' in e && e.task === task) inRun = true;
        if (e.type === 'task-output' && e.task === task) out.push(e.line);
      }
      if (!inRun) throw new ApiError(404, 'not-found', `task "${task}" is not part of run ${id} (or the run has not started yet)`);
      return reply.type('text/plain; charset=utf-8').send(out.length > 0 ? `${out.join('\n')}\n` : '');
    },

    /** Server-Sent Events: replay (after `Last-Event-ID`), then live, then `event: end`. */
    async getRunEvents(req: FastifyRequest, reply: FastifyReply) {
      const { id } = req.params as { id: string };
      ctx.runs.get(id); // 404 before the stream starts
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // An EventSource that reconnects sends the last id it saw: resume after it.
      const resumeAfter = Number(req.headers['last-event-id'] ?? 0) || 0;
      let n = 0;
      let closed = false;
      let unsubscribe: () => void = () => undefined;
      // The close listener exists before anything can fail, so the keepalive never outlives the client.
      const stop = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(keepalive);
        unsubscribe();
      };
      const out = new SseStream(raw, stop);
      const keepalive = setInterval(() => {
        if (!out.blocked) out.write(': keepalive\n\n');
      }, SSE_KEEPALIVE_MS);
      try {
        unsubscribe = ctx.runs.subscribe(id, {
          line: (line) => {
            n += 1;
            if (n <= resumeAfter) return;
            out.write(`id: ${n}\nevent: ${parseEventLine(line)?.type ?? 'message'}\ndata: ${line}\n\n`);
          },
          end: (run) => {
            out.write(`event: end\ndata: ${JSON.stringify({ id: run.id, status: run.status })}\n\n`);
            out.end();
            stop();
          },
        });
      } catch {
        // The run vanished in between (pruned): end the stream instead of leaking the interval; a
        // reconnecting client then gets the 404.
        stop();
        out.end();
        return;
      }
      if (closed) unsubscribe();
    },
  };
}
