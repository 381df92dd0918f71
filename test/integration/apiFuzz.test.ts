/**
 * API fuzz: at least 5,000 requests generated from the OpenAPI document (test/support/openapiFuzz.ts)
 * against the API on a real Temporal dev server, with a worker running every run to its gates.
 * Asserts: no 5xx, every 4xx says why in a JSON `message`, and no run exists that a rejected request
 * started. Every request goes over a real socket as raw HTTP/1.1 to the listening server, so
 * duplicated headers, odd URLs and conflicting lengths meet Node's real parser, not a simulation.
 *
 *   SLIPWAY_FUZZ_SEED=123 SLIPWAY_FUZZ_REQUESTS=20000 npx jest test/integration/apiFuzz.test.ts
 */
import { connect } from 'node:net';
import type { Worker } from '@temporalio/worker';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { TokenBook } from '../../api/auth';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import { activityDoubles, type Call } from '../support/doubles';
import { describeRequest, fuzzRequests, type FuzzContext, type FuzzRequest, type OpenApiDocument } from '../support/openapiFuzz';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const SEED = Number(process.env.SLIPWAY_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.SLIPWAY_FUZZ_REQUESTS ?? 5_000);
const BATCH = 16;

const TOKENS = { alice: 'alice-requester-token-0001', lead: 'lead-approver-token-000003', carol: 'carol-approver-token-00004' };
const SIGNING_SECRET = 'fuzz-slack-signing-secret';
const taskQueue = uniqueTaskQueue('fuzz');

let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let port: number;
let calls: Call[];
const seeds: string[] = [];
/** Run ids that a 200/201 reply to POST /runs named: the only runs that may exist. */
const accepted = new Set<string>();
let sent = 0;
/** Answers by status code: the generator must reach past validation, not only bounce off it. */
const byStatus = new Map<number, number>();

interface Answer {
  statusCode: number;
  body: string;
}

/** What is wrong with this answer, if anything. */
function problemWith(request: FuzzRequest, answer: Answer): string | undefined {
  byStatus.set(answer.statusCode, (byStatus.get(answer.statusCode) ?? 0) + 1);
  if (answer.statusCode >= 500) return `${answer.statusCode} ${answer.body.slice(0, 300)}`;
  if (answer.statusCode >= 400) {
    let message: unknown;
    try {
      message = (JSON.parse(answer.body) as { message?: unknown }).message;
    } catch {
      return `${answer.statusCode} without a JSON body: ${JSON.stringify(answer.body.slice(0, 200))}`;
    }
    if (typeof message !== 'string' || message.trim() === '') return `${answer.statusCode} without a message: ${answer.body.slice(0, 200)}`;
  }
  if (request.operation === 'POST /runs' && (answer.statusCode === 200 || answer.statusCode === 201)) {
    accepted.add((JSON.parse(answer.body) as { runId: string }).runId);
  }
  return undefined;
}

/** Raw HTTP/1.1 over a socket: repeated header lines for duplicated headers, the URL exactly as generated. */
function viaSocket(request: FuzzRequest, extraLines: string[] = []): Promise<Answer> {
  const body = request.body !== undefined ? Buffer.from(request.body, 'utf8') : undefined;
  const lines = [`${request.method} ${request.url} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close'];
  for (const [name, value] of Object.entries(request.headers)) {
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one}`);
  }
  if (body !== undefined && !extraLines.some((l) => /^(content-length|transfer-encoding):/i.test(l))) lines.push(`content-length: ${body.length}`);
  lines.push(...extraLines);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer within 30 s to ${describeRequest(request)}`)));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may answer and close before it has read the whole body (413, a parse error).
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') return;
      reject(err);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (status?.[1] === undefined) return reject(new Error(`no HTTP answer to ${describeRequest(request)}: ${JSON.stringify(text.slice(0, 200))}`));
      const split = text.indexOf('\r\n\r\n');
      const headers = text.slice(0, split);
      let payload = text.slice(split + 4);
      if (/^transfer-encoding:\s*chunked/im.test(headers)) payload = dechunk(payload);
      resolve({ statusCode: Number(status[1]), body: payload });
    });
    // No half-close: with `connection: close` the server ends the connection after its answer.
    socket.write(body !== undefined ? Buffer.concat([head, body]) : head);
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

beforeAll(async () => {
  env = await connectTestTemporal();
  const doubles = activityDoubles();
  calls = doubles.calls;
  worker = await testWorker(env, taskQueue, doubles.activities);
  workerDone = worker.run();
  const config = parseConfig({
    repository: { path: '.' },
    services: [
      { name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } },
      { name: 'notifications', path: 'services/notifications' },
    ],
    environments: [{ name: 'production', namespace: 'prod', soak: { duration: '1s', interval: '500ms' }, gate: { required: true, approvers: ['lead'] } }],
    gates: { spec: { required: true, approvers: ['lead'] }, migrationReview: { required: false }, manifestReview: { required: true } },
    approvers: [{ id: 'lead', slackUserId: 'U0LEAD' }, { id: 'carol', slackUserId: 'U0CAROL' }],
    temporal: { address: 'unused', namespace: 'default', taskQueue },
    llm: { model: 'claude-sonnet-5' },
  });
  app = await buildServer({
    client: env.client,
    config,
    tokens: TokenBook.parse(`alice:requester:${TOKENS.alice},lead:approver:${TOKENS.lead},carol:approver:${TOKENS.carol}`),
    queryTimeoutMs: 5_000,
    slack: { signingSecret: SIGNING_SECRET },
    metrics: createApiMetrics({ client: env.client, defaultMetrics: false }),
  });
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  // A few real runs waiting at their spec gate, so generated ids and decisions reach Temporal and the workflow.
  for (let i = 0; i < 3; i++) {
    const res = await viaSocket({ method: 'POST', url: '/runs', operation: 'seed', headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ feature: 'Add real-time notifications when users receive new messages', idempotencyKey: `fuzz-seed-${SEED}-${i}` }) });
    expect(res.statusCode).toBe(201);
    seeds.push((JSON.parse(res.body) as { runId: string }).runId);
  }
  for (const runId of seeds) {
    await eventually(async () => ((await viaSocket({ method: 'GET', url: `/runs/${runId}`, operation: 'seed', headers: { authorization: `Bearer ${TOKENS.alice}` } })).body.includes('"status":"pending"') ? true : undefined), `${runId} at its spec gate`);
  }
});

afterAll(async () => {
  await app?.close();
  // Nothing this test started may outlive it.
  for (const runId of [...seeds, ...accepted]) await env.client.workflow.getHandle(runId).terminate('fuzz test over').catch(() => undefined);
  worker?.shutdown();
  await workerDone;
  await env?.close();
});

function context(): FuzzContext {
  return {
    runIds: seeds,
    gates: ['spec', 'manifest-review', 'production', 'migration-review', 'architecture'],
    tokens: Object.values(TOKENS),
    services: ['messages', 'notifications'],
    // Few keys: most valid starts meet an existing run (200, or 409 for another feature) instead of adding one.
    idempotencyKeys: Array.from({ length: 12 }, (_, i) => `fuzz-${SEED}-${i}`),
    slack: { signingSecret: SIGNING_SECRET, userIds: ['U0LEAD', 'U0CAROL', 'U0NOBODY'] },
  };
}

async function fuzz(count: number, send: (request: FuzzRequest) => Promise<Answer>, seed: number): Promise<void> {
  const doc = app.swagger() as unknown as OpenApiDocument;
  const requests = fuzzRequests(doc, context());
  await fc.assert(
    fc.asyncProperty(fc.array(requests, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      const answers = await Promise.all(batch.map((request) => send(request)));
      sent += batch.length;
      const problems = batch.flatMap((request, i) => {
        const problem = problemWith(request, answers[i] as Answer);
        return problem === undefined ? [] : [`${describeRequest(request)}\n    -> ${problem}`];
      });
      if (problems.length > 0) throw new Error(`${problems.length} bad answer(s):\n  ${problems.join('\n  ')}`);
    }),
    { numRuns: Math.ceil(count / BATCH), seed, endOnFailure: true, verbose: 0 },
  );
}

test(`${REQUESTS} generated requests: no 5xx, every 4xx with a message, no run from a rejected request (seed ${SEED})`, async () => {
  const before = sent;
  await fuzz(REQUESTS, viaSocket, SEED);
  // What only a real socket can carry: conflicting lengths and encodings.
  const auth = `authorization: Bearer ${TOKENS.alice}`;
  const body = JSON.stringify({ feature: 'Add real-time notifications when users receive new messages' });
  const smuggling: [FuzzRequest, string[]][] = [
    [{ method: 'POST', url: '/runs', headers: { 'content-type': 'application/json' }, body, operation: 'raw' }, [auth, 'content-length: 5', `content-length: ${body.length}`]],
    [{ method: 'POST', url: '/runs', headers: { 'content-type': 'application/json' }, body: `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, operation: 'raw' }, [auth, 'transfer-encoding: chunked', 'content-length: 3']],
    [{ method: 'POST', url: '/runs', headers: { 'content-type': 'application/json' }, body: 'zz\r\n{}\r\n0\r\n\r\n', operation: 'raw' }, [auth, 'transfer-encoding: chunked']],
    [{ method: 'GET', url: '/runs', headers: {}, operation: 'raw' }, [auth, `x-long: ${'h'.repeat(20_000)}`]],
    [{ method: 'GET', url: '/runs/../../etc/passwd', headers: {}, operation: 'raw' }, [auth]],
    [{ method: 'GET', url: 'http://evil.example/runs', headers: {}, operation: 'raw' }, [auth]],
    [{ method: 'GET', url: '*', headers: {}, operation: 'raw' }, [auth]],
  ];
  for (const [request, lines] of smuggling) {
    const problem = problemWith(request, await viaSocket(request, lines));
    expect(problem === undefined ? 'ok' : `${describeRequest(request)} -> ${problem}`).toBe('ok');
    sent += 1;
  }
  expect(sent - before).toBeGreaterThanOrEqual(REQUESTS);
  console.log(`api fuzz (seed ${SEED}): ${sent - before} requests, answers by status ${JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))}, ${accepted.size} runs accepted`);
  // Started runs, decisions that landed, and each kind of refusal: the requests reached every layer.
  expect([...byStatus.keys()]).toEqual(expect.arrayContaining([200, 201, 202, 400, 401, 403, 404, 409, 413]));

  // From Temporal, not from the replies: every run on this task queue was named by an accepted start.
  const allowed = new Set([...seeds, ...accepted]);
  const listed = await eventually(async () => {
    const ids: string[] = [];
    for await (const execution of env.client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND WorkflowType = 'featureDelivery'` })) ids.push(execution.workflowId);
    return ids.length >= allowed.size ? ids : undefined;
  }, 'every accepted run in visibility');
  expect(listed.filter((id) => !allowed.has(id))).toEqual([]);
  const started = calls.filter((c) => c.name === 'prepareWorkspace').map((c) => (c.input as { runId: string }).runId);
  expect(started.filter((id) => !allowed.has(id))).toEqual([]);
}, 240_000);
