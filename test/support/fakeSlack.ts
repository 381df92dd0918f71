import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { slackSignature } from '../../api/slackSignature';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  authorization?: string;
}

type Failure = { status: number; error?: string; retryAfter?: number };

/**
 * A local stand-in for Slack's Web API: the real @slack/web-api client talks to it over
 * HTTP. It records every call, answers like Slack, and can be told to fail the next calls.
 * It also serves response_url endpoints (`/respond/<name>`) and records what they receive.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly responses: { path: string; body: Record<string, unknown> }[] = [];
  private failures: { failure: Failure; matches: (call: SlackCall) => boolean }[] = [];
  private server?: Server;
  private sequence = 0;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(({ status, body, headers }) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /**
   * The next `count` API calls (that `matches`, when given) fail this way:
   * an HTTP status, or 200 with ok:false and a Slack error.
   */
  failNext(failure: Failure, count = 1, matches: (call: SlackCall) => boolean = () => true): void {
    for (let i = 0; i < count; i++) this.failures.push({ failure, matches });
  }

  /** Matches calls whose arguments mention `text` anywhere. */
  static mentioning(text: string): (call: SlackCall) => boolean {
    return (call) => JSON.stringify(call.args).includes(text);
  }

  callsTo(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (chunk: Buffer) => (data += chunk.toString()));
      req.on('end', () => resolve(data));
    });
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (path.startsWith('/respond/')) {
      this.responses.push({ path, body: JSON.parse(raw || '{}') });
      return { status: 200, body: { ok: true } };
    }
    const method = path.replace(/^\/api\//, '');
    const args = parseArgs(req.headers['content-type'] ?? '', raw);
    const call = { method, args, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    this.calls.push(call);

    const index = this.failures.findIndex((f) => f.matches(call));
    const failure = index >= 0 ? this.failures.splice(index, 1)[0]?.failure : undefined;
    if (failure !== undefined) {
      if (failure.status !== 200) {
        return { status: failure.status, body: { ok: false, error: failure.error ?? 'fatal_error' }, ...(failure.retryAfter ? { headers: { 'retry-after': String(failure.retryAfter) } } : {}) };
      }
      return { status: 200, body: { ok: false, error: failure.error } };
    }
    switch (method) {
      case 'chat.postMessage':
        return { status: 200, body: { ok: true, channel: 'C0DEPLOYS', ts: `1790000000.${String(++this.sequence).padStart(6, '0')}`, message: {} } };
      case 'chat.update':
        return { status: 200, body: { ok: true, channel: args.channel, ts: args.ts } };
      case 'views.open':
        return { status: 200, body: { ok: true, view: { id: 'V0REJECT' } } };
      default:
        return { status: 200, body: { ok: false, error: 'unknown_method' } };
    }
  }
}

function parseArgs(contentType: string, raw: string): Record<string, unknown> {
  if (contentType.includes('application/json')) return JSON.parse(raw || '{}');
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return args;
}

/** A Slack interaction request body and headers, signed with the real algorithm. */
export function signedInteraction(secret: string, payload: unknown, timestamp = Math.floor(Date.now() / 1000)): { body: string; headers: Record<string, string> } {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(secret, String(timestamp), body),
    },
  };
}
