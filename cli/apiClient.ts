/**
 * The HTTP API as the CLI calls it: one method per route, replies checked against the API's own
 * zod schemas, every failure turned into a CliError whose exit code says what kind it is.
 */
import { z } from 'zod';
import { cancelReply, errorSchema, evidenceReply, freezeOverrideReply, freezeReply, gateReply, reportReply, rollbackReply, runReply, runSummary, startRunReply } from '../api/schemas';
import type { RunStatus } from '../workflows/state';
import type { Target } from './credentials';
import { CliError, EXIT, exitCodeForHttp } from './exitCodes';

/** A reply both ways: `body` to render, `text` exactly as the API sent it (for --json). */
export interface Reply<T> {
  body: T;
  text: string;
}

export const listRunsReply = z.object({ runs: z.array(runSummary) });

type Query = Record<string, string | number | undefined>;

export interface ApiClientOptions {
  fetch?: typeof fetch;
  /** Per request; the API's own Temporal queries give up after 5 s. */
  timeoutMs?: number;
}

export class ApiClient {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(
    private readonly target: Target,
    options: ApiClientOptions = {},
  ) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The address people see in messages, without a trailing slash. */
  get address(): string {
    return this.target.api.href.replace(/\/$/, '');
  }

  startRun(body: { feature: string; services?: string[]; idempotencyKey?: string }) {
    return this.call('POST', 'runs', startRunReply, { body });
  }

  listRuns(query: { status?: RunStatus; phase?: string; limit?: number }) {
    return this.call('GET', 'runs', listRunsReply, { query });
  }

  run(runId: string) {
    return this.call('GET', `runs/${encodeURIComponent(runId)}`, runReply);
  }

  evidence(runId: string, query: { service: string; environment?: string; kind?: 'soak' | 'watch'; page?: number; pageSize?: number }) {
    return this.call('GET', `runs/${encodeURIComponent(runId)}/evidence`, evidenceReply, { query });
  }

  report(runId: string) {
    return this.call('GET', `runs/${encodeURIComponent(runId)}/report`, reportReply);
  }

  decide(runId: string, gate: string, decision: 'approve' | 'reject', comment: string | undefined, override?: boolean) {
    return this.call('POST', `runs/${encodeURIComponent(runId)}/gates/${encodeURIComponent(gate)}/${decision}`, gateReply, {
      body: { ...(comment !== undefined ? { comment } : {}), ...(override ? { override: true } : {}) },
    });
  }

  cancel(runId: string, reason: string | undefined) {
    return this.call('POST', `runs/${encodeURIComponent(runId)}/cancel`, cancelReply, { body: reason !== undefined ? { reason } : {} });
  }

  freezeStatus() {
    return this.call('GET', 'freeze', freezeReply);
  }

  freeze(reason: string) {
    return this.call('POST', 'freeze', freezeReply, { body: { reason } });
  }

  unfreeze(comment: string | undefined) {
    return this.call('POST', 'unfreeze', freezeReply, { body: comment !== undefined ? { comment } : {} });
  }

  overrideFreeze(runId: string, comment: string) {
    return this.call('POST', `runs/${encodeURIComponent(runId)}/freeze-override`, freezeOverrideReply, { body: { comment } });
  }

  rollback(runId: string, body: { reason: string; force?: boolean; comment?: string }) {
    return this.call('POST', `runs/${encodeURIComponent(runId)}/rollback`, rollbackReply, { body });
  }

  rollbackStatus(runId: string) {
    return this.call('GET', `runs/${encodeURIComponent(runId)}/rollback`, rollbackReply);
  }

  private async call<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, request: { query?: Query; body?: unknown } = {}): Promise<Reply<z.infer<S>>> {
    const url = new URL(path, this.target.api);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const route = `${method} /${path}`;
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.target.token}`, accept: 'application/json', ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      text = await res.text();
    } catch (err) {
      throw this.unreachable(err);
    }
    if (!res.ok) throw this.refused(res.status, text, route);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(EXIT.unavailable, `${this.address} answered ${route} with something that is not JSON: is it the Slipway API?`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CliError(
        EXIT.unexpected,
        `${this.address} answered ${route} in a shape this CLI does not know (${issue?.path.join('.') || 'reply'}: ${issue?.message ?? 'invalid'}): are the CLI and the API the same version?`,
      );
    }
    return { body: parsed.data, text };
  }

  private unreachable(err: unknown): CliError {
    const error = err as Error & { cause?: { code?: string; message?: string } };
    if (error.name === 'TimeoutError' || error.name === 'AbortError') {
      return new CliError(EXIT.unavailable, `the Slipway API at ${this.address} did not answer within ${Math.round(this.timeoutMs / 1000)} s`);
    }
    const why = error.cause?.code ?? error.cause?.message ?? error.message;
    return new CliError(
      EXIT.unavailable,
      `cannot reach the Slipway API at ${this.address} (${why}): is it running? \`npm start\` starts one locally; --api or SLIPWAY_API points elsewhere`,
    );
  }

  private refused(status: number, text: string, route: string): CliError {
    let message: string;
    try {
      message = errorSchema.parse(JSON.parse(text)).message;
    } catch {
      message = `${this.address} answered ${route} with HTTP ${status}`;
    }
    if (status === 401) message += ` (the token from ${this.target.tokenSource})`;
    else if (status >= 500) message = `the Slipway API at ${this.address} failed (HTTP ${status}): ${message}`;
    return new CliError(exitCodeForHttp(status), message);
  }
}
