import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveApi, resolveTarget, parseDevTokens } from '../../cli/credentials';
import { EXIT, exitCodeForHttp, exitCodeForOutcome } from '../../cli/exitCodes';
import { runCli, type CliIo } from '../../cli/program';
import { emptyUsage, type RunState } from '../../workflows/state';

const TOKEN = 'alice-requester-token-0001';

interface Sent {
  method: string;
  url: URL;
  authorization: string | undefined;
  body: unknown;
}

/** The HTTP transport only: records what the CLI sends and answers with the given replies in turn. */
function transport(...replies: { status?: number; body: unknown }[]) {
  const sent: Sent[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    sent.push({ method: init?.method ?? 'GET', url: new URL(String(input)), authorization: headers.get('authorization') ?? undefined, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const reply = replies.length > 1 ? replies.shift() : replies[0];
    if (reply === undefined) throw new Error('no reply scripted');
    return new Response(JSON.stringify(reply.body), { status: reply.status ?? 200, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { sent, fetch };
}

async function run(argv: string[], options: { fetch?: typeof fetch; env?: NodeJS.ProcessEnv; cwd?: string; home?: string } = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => void (stdout += t) },
    stderr: { write: (t: string) => void (stderr += t) },
    env: options.env ?? { SLIPWAY_TOKEN: TOKEN, SLIPWAY_API: 'http://api.test:8080' },
    cwd: options.cwd ?? (await mkdtemp(join(tmpdir(), 'slipway-cli-cwd-'))),
    home: options.home ?? (await mkdtemp(join(tmpdir(), 'slipway-cli-home-'))),
    sleep: async () => undefined,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const apiError = (statusCode: number, message: string) => ({ status: statusCode, body: { statusCode, error: 'x', message } });

describe('arguments become requests', () => {
  test('start: the words are the sentence; services and key go along; the token is a bearer header', async () => {
    const api = transport({ status: 201, body: { runId: 'feature-add-real-time-k1', created: true, temporalUiUrl: 'http://ui/x' } });
    const result = await run(['start', 'Add', 'real-time notifications', '--service', 'messages', '-s', 'notifications', '--key', 'k1'], { fetch: api.fetch });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(api.sent).toEqual([
      { method: 'POST', url: new URL('http://api.test:8080/runs'), authorization: `Bearer ${TOKEN}`, body: { feature: 'Add real-time notifications', services: ['messages', 'notifications'], idempotencyKey: 'k1' } },
    ]);
    expect(result.stdout).toBe('started run feature-add-real-time-k1\n  follow it:   slipway watch feature-add-real-time-k1\n  Temporal UI: http://ui/x\n');
  });

  test('--json prints the reply exactly, anywhere on the line', async () => {
    const body = { runId: 'feature-x-k1', created: false };
    for (const argv of [['--json', 'start', 'Add a feature here'], ['start', 'Add a feature here', '--json']]) {
      const result = await run(argv, { fetch: transport({ body }).fetch });
      expect(result).toEqual({ code: 0, stdout: `${JSON.stringify(body)}\n`, stderr: '' });
    }
  });

  test('list filters, evidence paging, decisions and cancel reach their routes', async () => {
    const list = transport({ body: { runs: [] } });
    expect((await run(['list', '--status', 'awaiting-approval', '--phase', 'deploy:production', '-n', '5'], { fetch: list.fetch })).stdout).toBe('no runs match\n');
    expect(list.sent[0]?.url.href).toBe('http://api.test:8080/runs?status=awaiting-approval&phase=deploy%3Aproduction&limit=5');

    const evidence = transport({ body: { runId: 'r', service: 'messages', environment: 'production', kind: 'watch', page: 2, pageSize: 5, pages: 3, total: 12, samples: [] } });
    const shown = await run(['evidence', 'r', '--service', 'messages', '--env', 'production', '--kind', 'watch', '--page', '2', '--page-size', '5'], { fetch: evidence.fetch });
    expect(evidence.sent[0]?.url.href).toBe('http://api.test:8080/runs/r/evidence?service=messages&kind=watch&page=2&environment=production&pageSize=5');
    expect(shown.stdout).toContain('next: slipway evidence r --service messages --env production --kind watch --page 3');

    const gate = { name: 'spec', status: 'rejected', round: 1, openedAt: 'a', deadlineAt: 'b', summary: 's', approvers: [], fourEyes: false, decidedBy: 'lead' };
    const decisions = transport({ body: { runId: 'r', gate } }, { body: { runId: 'r', gate } }, { status: 202, body: { runId: 'r', cancelRequested: true } });
    await run(['reject', 'r', 'spec', '-m', 'Say what happens offline.'], { fetch: decisions.fetch });
    await run(['approve', 'r', 'spec'], { fetch: decisions.fetch });
    await run(['cancel', 'r', '-m', 'wrong feature'], { fetch: decisions.fetch });
    expect(decisions.sent.map((s) => [s.method, s.url.pathname, s.body])).toEqual([
      ['POST', '/runs/r/gates/spec/reject', { comment: 'Say what happens offline.' }],
      ['POST', '/runs/r/gates/spec/approve', {}],
      ['POST', '/runs/r/cancel', { reason: 'wrong feature' }],
    ]);
  });

  test('an API under a base path keeps it', async () => {
    const api = transport({ body: { runs: [] } });
    await run(['list', '--api', 'https://example.test/slipway'], { fetch: api.fetch });
    expect(api.sent[0]?.url.href).toBe('https://example.test/slipway/runs');
  });
});

describe('bad arguments exit 2 before any request', () => {
  test.each([
    [['reject', 'r', 'spec'], /required option '-m, --message <comment>'/],
    [['reject', 'r', 'spec', '-m', '  '], /a rejection needs a comment/],
    [['list', '--status', 'sleeping'], /Allowed choices are running, awaiting-approval/],
    [['list', '--limit', '0'], /--limit must be a whole number from 1 to 200/],
    [['list', '--phase', 'sleep'], /a phase is one of specify, architect, .*, or deploy:<environment>/],
    [['list', '--phase', 'specify:dev'], /a phase is one of/],
    [['list', '--limit', '2x'], /--limit must be a whole number/],
    [['evidence', 'r'], /required option '--service <name>'/],
    [['evidence', 'r', '--service', 'm', '--kind', 'canary'], /Allowed choices are soak, watch/],
    [['watch', 'r', '--interval', '0'], /seconds between 0.2 and 3600/],
    [['start'], /missing required argument 'sentence'/],
    [['status'], /missing required argument 'run'/],
    [['status', 'a', 'b'], /too many arguments/],
    [['deploy', 'r'], /unknown command 'deploy'/],
    [['list', '--as', 'admin'], /Allowed choices are requester, approver/],
    [['list', '--api', 'ftp://x'], /--api "ftp:\/\/x" is not an http\(s\) URL/],
    [[], /Usage: slipway/],
  ])('%j', async (argv, message) => {
    const api = transport({ body: {} });
    const result = await run(argv, { fetch: api.fetch });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
    expect(api.sent).toEqual([]);
  });

  test('--help and --version exit 0 on stdout; the help documents tokens and exit codes', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/SLIPWAY_TOKEN/);
    expect(help.stdout).toMatch(/\.slipway\/dev-tokens/);
    expect(help.stdout).toMatch(/5 {3}conflict/);
    expect(help.stdout).toMatch(/11 {2}watch: the run was rolled back/);
    for (const command of ['start', 'list', 'status', 'watch', 'approve', 'reject', 'cancel', 'report', 'evidence']) {
      const sub = await run([command, '--help']);
      expect(sub.code).toBe(0);
      expect(sub.stdout).toMatch(new RegExp(`Usage: slipway ${command}`));
      expect(sub.stdout).toMatch(/--json/);
    }
    expect(await run(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});

describe('API answers become exit codes and one line on stderr', () => {
  test.each([
    [400, 'body.comment: a rejection needs a comment', EXIT.usage],
    [401, 'unknown bearer token', EXIT.forbidden],
    [403, 'alice has the requester role and may not decide gates', EXIT.forbidden],
    [404, 'run feature-nope-0 not found', EXIT.notFound],
    [409, 'gate spec is not pending: it was approved by lead', EXIT.conflict],
    [503, 'Temporal did not answer in time', EXIT.unavailable],
  ])('%i', async (status, message, code) => {
    const result = await run(['approve', 'feature-nope-0', 'spec'], { fetch: transport(apiError(status, message)).fetch });
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
    if (status === 401) expect(result.stderr).toContain('(the token from SLIPWAY_TOKEN)');
    expect(result.stderr).not.toContain(TOKEN);
  });

  test('an unreachable API names the address and suggests npm start', async () => {
    const refused = (async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    }) as typeof fetch;
    const result = await run(['status', 'r'], { fetch: refused });
    expect(result.code).toBe(EXIT.unavailable);
    expect(result.stderr).toBe('slipway: cannot reach the Slipway API at http://api.test:8080 (ECONNREFUSED): is it running? `npm start` starts one locally; --api or SLIPWAY_API points elsewhere\n');
  });

  test('a reply in an unknown shape is said plainly, not rendered half', async () => {
    const result = await run(['status', 'r'], { fetch: transport({ body: { runId: 'r' } }).fetch });
    expect(result.code).toBe(EXIT.unexpected);
    expect(result.stderr).toMatch(/answered GET \/runs\/r in a shape this CLI does not know .*same version/);
  });

  test('mapping tables', () => {
    expect([400, 401, 403, 404, 409, 413, 500, 503].map(exitCodeForHttp)).toEqual([2, 4, 4, 3, 5, 2, 6, 6]);
    expect((['succeeded', 'failed', 'rolled-back', 'cancelled', 'running', 'awaiting-approval'] as const).map(exitCodeForOutcome)).toEqual([0, 10, 11, 12, undefined, undefined]);
  });
});

describe('watch', () => {
  const state = (status: RunState['status'], phase: RunState['phase'] = 'deploy'): RunState => ({
    runId: 'r',
    feature: 'Add a feature here',
    requester: 'alice',
    services: [],
    mode: 'agents',
    status,
    phase,
    gates: {},
    approvals: [],
    artifacts: [],
    timeline: [],
    timelineDropped: 0,
    images: [],
    rollouts: [],
    watches: [],
    compensations: [],
    cost: { total: emptyUsage(), byPhase: {} },
    startedAt: '2026-11-25T12:00:00.000Z',
  });

  test('--json: one line per change, the last one the final state; the exit code is the outcome', async () => {
    const api = transport({ body: state('running') }, { body: state('running') }, { body: state('running', 'report') }, { body: state('rolled-back', 'report') });
    const result = await run(['watch', 'r', '--json'], { fetch: api.fetch });
    expect(result.code).toBe(EXIT.runRolledBack);
    expect(api.sent).toHaveLength(4);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunState);
    expect(lines.map((s) => [s.status, s.phase])).toEqual([
      ['running', 'deploy'],
      ['running', 'report'],
      ['rolled-back', 'report'],
    ]);
  });

  test('survives a few polls the API misses, then gives up with exit 6', async () => {
    let calls = 0;
    const flaky = (async () => {
      calls++;
      if (calls <= 3) throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      return new Response(JSON.stringify(state('cancelled')), { status: 200 });
    }) as typeof fetch;
    expect((await run(['watch', 'r'], { fetch: flaky })).code).toBe(EXIT.runCancelled);

    const down = (async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    }) as typeof fetch;
    const result = await run(['watch', 'r'], { fetch: down });
    expect(result.code).toBe(EXIT.unavailable);
    expect(result.stderr).toMatch(/cannot reach the Slipway API/);
  });

  test('plain output (not a terminal) prints each change once', async () => {
    const api = transport({ body: state('running') }, { body: state('running') }, { body: state('succeeded', 'report') });
    const result = await run(['watch', 'r'], { fetch: api.fetch });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').filter((l) => l.startsWith('r '))).toEqual(['r  * running', 'r  + succeeded']);
    expect(result.stdout.match(/Add a feature here/g)).toHaveLength(1);
  });
});

describe('where the token and the address come from', () => {
  const setUp = async () => {
    const home = await mkdtemp(join(tmpdir(), 'slipway-cli-home-'));
    const checkout = await mkdtemp(join(tmpdir(), 'slipway-cli-checkout-'));
    await mkdir(join(checkout, '.slipway'));
    await writeFile(join(checkout, '.slipway', 'dev-tokens'), 'requester=dev-requester-token-1\napprover=dev-approver-token-2\n');
    const cwd = join(checkout, 'services', 'messages');
    await mkdir(cwd, { recursive: true });
    const config = join(home, 'cli.json');
    await writeFile(config, JSON.stringify({ api: 'http://from-file:1', token: 'file-token' }), { mode: 0o600 });
    return { home, cwd, config };
  };
  const warn = () => undefined;

  test('SLIPWAY_TOKEN, then the config file, then the dev-tokens requester; --as picks a dev-tokens role', async () => {
    const { home, cwd, config } = await setUp();
    const target = (env: NodeJS.ProcessEnv, as?: 'approver' | 'requester') => resolveTarget(as ? { as } : {}, { env, cwd, home }, warn);
    expect(await target({ SLIPWAY_TOKEN: 'env-token', SLIPWAY_CLI_CONFIG: config })).toMatchObject({ token: 'env-token', tokenSource: 'SLIPWAY_TOKEN', api: new URL('http://from-file:1/') });
    expect(await target({ SLIPWAY_CLI_CONFIG: config })).toMatchObject({ token: 'file-token', tokenSource: config });
    expect(await target({})).toMatchObject({ token: 'dev-requester-token-1', api: new URL('http://127.0.0.1:8080/') });
    expect(await target({ SLIPWAY_TOKEN: 'env-token' }, 'approver')).toMatchObject({ token: 'dev-approver-token-2', tokenSource: expect.stringMatching(/\.slipway\/dev-tokens \(approver\)$/) });
  });

  test('the default config file is ~/.config/slipway/cli.json (or under XDG_CONFIG_HOME)', async () => {
    const { home, cwd } = await setUp();
    await mkdir(join(home, '.config', 'slipway'), { recursive: true });
    await writeFile(join(home, '.config', 'slipway', 'cli.json'), JSON.stringify({ token: 'home-token' }), { mode: 0o600 });
    expect(await resolveTarget({}, { env: {}, cwd, home }, warn)).toMatchObject({ token: 'home-token' });
    expect(await resolveTarget({}, { env: { XDG_CONFIG_HOME: join(home, 'nowhere') }, cwd, home }, warn)).toMatchObject({ token: 'dev-requester-token-1' });
  });

  test('--api beats SLIPWAY_API beats the file beats the default', () => {
    const where = { env: { SLIPWAY_API: 'http://from-env:2' }, cwd: '/', home: '/' };
    expect(resolveApi('http://from-flag:3', where, { api: 'http://from-file:1' }).href).toBe('http://from-flag:3/');
    expect(resolveApi(undefined, where, { api: 'http://from-file:1' }).href).toBe('http://from-env:2/');
    expect(resolveApi(undefined, { ...where, env: {} }, { api: 'http://from-file:1' }).href).toBe('http://from-file:1/');
  });

  test('no token anywhere: exit 4, saying where tokens come from', async () => {
    const result = await run(['list'], { env: {} });
    expect(result.code).toBe(EXIT.forbidden);
    expect(result.stderr).toMatch(/^slipway: no API token: set SLIPWAY_TOKEN, put .* ~\/\.config\/slipway\/cli\.json .* \.slipway\/dev-tokens/);
  });

  test('--as without dev tokens says what to do instead', async () => {
    const result = await run(['list', '--as', 'approver'], { env: { SLIPWAY_TOKEN: TOKEN } });
    expect(result.code).toBe(EXIT.forbidden);
    expect(result.stderr).toMatch(/--as approver reads \.slipway\/dev-tokens.*set SLIPWAY_TOKEN to the approver's token instead/);
  });

  test('a broken config file is named without echoing what is in it; a readable token file is warned about', async () => {
    const { home, cwd } = await setUp();
    const broken = join(home, 'broken.json');
    await writeFile(broken, '{"token": "secret-token-in-file",');
    const result = await run(['list'], { env: { SLIPWAY_CLI_CONFIG: broken }, cwd, home });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain(`the CLI config ${broken} is not valid JSON`);
    expect(result.stderr).not.toContain('secret-token-in-file');
    expect((await run(['list'], { env: { SLIPWAY_CLI_CONFIG: join(home, 'missing.json') } })).stderr).toMatch(/cannot read the CLI config .*missing\.json.*ENOENT/);

    const open = join(home, 'open.json');
    await writeFile(open, JSON.stringify({ token: 'open-token', api: 'http://x:1' }));
    await chmod(open, 0o644);
    const warnings: string[] = [];
    await resolveTarget({}, { env: { SLIPWAY_CLI_CONFIG: open }, cwd, home }, (line) => warnings.push(line));
    expect(warnings).toEqual([`warning: ${open} holds a token and others may read it (chmod 600 ${open})`]);
  });

  test('dev-tokens lines', () => {
    expect(parseDevTokens('requester=abc\n# note\napprover = def \nother=x\n')).toEqual({ requester: 'abc', approver: 'def' });
  });
});
