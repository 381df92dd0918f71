import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Block = { type: 'text'; text: string } | { type: 'tool_use'; name: string; input: unknown };

/** One scripted answer: a message (streamed when asked), or an HTTP error. */
export type Scripted =
  | {
      blocks: Block[];
      stop?: 'end_turn' | 'tool_use' | 'max_tokens';
      usage?: { input?: number; output?: number; cacheRead?: number; cacheWrite?: number };
      /** A slow answer: the stream starts, then pauses this long (sending pings, as the real API does) before its content. */
      pauseMs?: number;
    }
  | { status: number; error: { type: string; message: string }; retryAfter?: number };

/** A scripted answer, or one made from the request (e.g. paths the prompt names). */
export type Answer = Scripted | ((body: RecordedRequest['body']) => Scripted | Promise<Scripted>);

export interface RecordedRequest {
  headers: IncomingMessage['headers'];
  body: {
    model: string;
    stream?: boolean;
    system?: { text: string; cache_control?: unknown }[];
    tools?: { name: string; cache_control?: unknown }[];
    messages: { role: string; content: unknown }[];
  };
}

/**
 * A local stand-in for Anthropic's Messages API: the real SDK talks to it through `baseURL`.
 * Answers come from a script, in order; every request is recorded.
 */
export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  private script: Answer[] = [];
  private server?: Server;
  private ids = 0;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Replaces the script; answers are consumed in order (a function answers from the request it gets). */
  answer(...script: Answer[]): void {
    this.script = [...script];
    this.requests.length = 0;
  }

  get remaining(): number {
    return this.script.length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    if (req.url !== '/v1/messages') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: req.url } }));
      return;
    }
    const body = JSON.parse(raw) as RecordedRequest['body'];
    this.requests.push({ headers: req.headers, body });
    const scripted = this.script.shift();
    const next = typeof scripted === 'function' ? await scripted(body) : scripted;
    if (next === undefined) {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'the fake has no scripted answer left' } }));
      return;
    }
    if ('status' in next) {
      res.writeHead(next.status, { 'content-type': 'application/json', ...(next.retryAfter !== undefined ? { 'retry-after': String(next.retryAfter) } : {}) });
      res.end(JSON.stringify({ type: 'error', error: next.error }));
      return;
    }
    type Out = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown };
    const content: Out[] = next.blocks.map((b) => (b.type === 'text' ? b : { type: 'tool_use' as const, id: `toolu_${++this.ids}`, name: b.name, input: b.input }));
    const stop = next.stop ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
    const usage = {
      input_tokens: next.usage?.input ?? 100,
      output_tokens: next.usage?.output ?? 50,
      cache_read_input_tokens: next.usage?.cacheRead ?? 0,
      cache_creation_input_tokens: next.usage?.cacheWrite ?? 0,
    };
    const message = { id: `msg_${++this.ids}`, type: 'message', role: 'assistant', model: body.model, content, stop_reason: stop, stop_sequence: null, usage };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(message));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } });
    for (let waited = 0; waited < (next.pauseMs ?? 0); waited += 5_000) {
      send('ping', { type: 'ping' });
      await new Promise((r) => setTimeout(r, Math.min(5_000, (next.pauseMs ?? 0) - waited)));
    }
    content.forEach((block, index) => {
      if (block.type === 'text') {
        send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
        send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
      } else {
        send('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } });
        send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
      }
      send('content_block_stop', { type: 'content_block_stop', index });
    });
    send('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    send('message_stop', { type: 'message_stop' });
    res.end();
  }
}
