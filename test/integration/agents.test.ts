import type { SlipwayConfigInput } from '../../config/schema';
import type { LlmSettings, RepositorySettings, RunSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { serviceIn, settingsFrom } from '../support/doubles';
import { FakeAnthropic } from '../support/fakeAnthropic';
import { fixtureRepo, git } from '../support/gitRepo';

const fake = new FakeAnthropic();
beforeAll(async () => {
  await fake.start();
});
afterAll(() => fake.stop());
beforeEach(() => {
  process.env.SLIPWAY_TEST_ANTHROPIC_KEY = 'sk-ant-test-key';
});

async function setup(llm: Partial<NonNullable<SlipwayConfigInput['llm']>> = {}) {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFrom({
    repository: { path: repo, worktreesDir: worktrees },
    services: [
      { name: 'messages', path: 'services/messages', commands: { test: 'echo ok' } },
      { name: 'notifications', path: 'services/notifications' },
    ],
    environments: [{ name: 'production' }],
    llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_ANTHROPIC_KEY', baseUrl: fake.url, ...llm },
  });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId: 'run-agents', feature: 'Add real-time notifications when users receive new messages', repository: settings.repository });
  const call: Call = { runId: 'run-agents', workspace, repository: settings.repository, llm: settings.llm as LlmSettings };
  return { activities, workspace, call, settings };
}

interface Call {
  runId: string;
  workspace: Workspace;
  repository: RepositorySettings;
  llm: LlmSettings;
}
const messages = (settings: RunSettings) => serviceIn(settings, 'messages');

const specMarkdown = '# Feature Specification: notifications\n\n## Requirements\n\n- **FR-001**: Users MUST be notified within 2 s.\n- [NEEDS CLARIFICATION: should muted conversations notify?]\n';
const create = (path: string, content: string) => ({ type: 'tool_use' as const, name: 'create_file', input: { path, content } });
const submit = (input: unknown) => ({ type: 'tool_use' as const, name: 'submit_result', input });
const specInput = (call: Call, comments: string[] = []) => ({ ...call, feature: 'Add real-time notifications when users receive new messages', comments });

test('the spec writer writes spec.md and its checklist, commits them, and reports usage, with prompt caching', async () => {
  const { activities, workspace, call } = await setup();
  fake.answer(
    { blocks: [{ type: 'text', text: 'Looking around.' }, { type: 'tool_use', name: 'view', input: { path: '.' } }], usage: { input: 1000, output: 100, cacheWrite: 800 } },
    { blocks: [create(`${workspace.specDir}/spec.md`, specMarkdown), create(`${workspace.specDir}/checklists/requirements.md`, '# Checklist\n- [x] No implementation details\n')], usage: { input: 1200, output: 900, cacheRead: 800 } },
    { blocks: [submit({ summary: 'Notify users of new messages within 2 s.', clarifications: ['Should muted conversations notify?'] })], usage: { input: 1300, output: 40, cacheRead: 800 } },
  );
  const result = await activities.writeSpec(specInput(call));
  expect(result).toMatchObject({ specPath: `${workspace.specDir}/spec.md`, summary: 'Notify users of new messages within 2 s.', clarifications: ['Should muted conversations notify?'] });
  expect(result.usage).toMatchObject({ inputTokens: 3500, outputTokens: 1040, cacheReadTokens: 1600, cacheWriteTokens: 800 });
  expect(result.usage.costUsd).toBeCloseTo((3500 * 3 + 1040 * 15 + 800 * 3.75 + 1600 * 0.3) / 1e6, 8);
  expect(git(workspace.path, 'show', `HEAD:${workspace.specDir}/spec.md`)).toBe(specMarkdown.trimEnd());
  expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`spec: ${workspace.branch} (round 1)`);

  const [first, second] = fake.requests;
  // The SDK carries the key in x-api-key or as a bearer token, depending on its version.
  expect([first?.headers['x-api-key'], first?.headers.authorization]).toContainEqual(expect.stringMatching(/^(Bearer )?sk-ant-test-key$/));
  expect(first?.body).toMatchObject({ model: 'claude-sonnet-5', stream: true });
  expect(first?.body.system?.[0]?.cache_control).toEqual({ type: 'ephemeral' });
  expect(first?.body.tools?.at(-1)).toMatchObject({ name: 'submit_result', cache_control: { type: 'ephemeral' } });
  expect(first?.body.tools?.map((t) => t.name)).toEqual(['view', 'create_file', 'str_replace', 'insert', 'search', 'submit_result']);
  // The view result went back to the model as a tool result.
  expect(JSON.stringify(second?.body.messages.at(-1))).toContain('README.md');
});

test('a result that fails its checks goes back to the model as an error, and the corrected one is accepted', async () => {
  const { activities, workspace, call } = await setup();
  fake.answer(
    { blocks: [submit({ summary: 'done', clarifications: [] })] },
    { blocks: [create(`${workspace.specDir}/spec.md`, specMarkdown), create(`${workspace.specDir}/checklists/requirements.md`, '- [x] ok\n'), submit({ summary: 'done', clarifications: [] })] },
    { blocks: [submit({ summary: 'done', clarifications: ['Should muted conversations notify?'] })] },
  );
  await activities.writeSpec(specInput(call));
  expect(JSON.stringify(fake.requests[1]?.body.messages.at(-1))).toContain('not done yet: create');
  expect(JSON.stringify(fake.requests[2]?.body.messages.at(-1))).toContain('has 1 [NEEDS CLARIFICATION] markers but the result lists 0');
});

test('a rejected spec is revised with the reviewer comments in the prompt', async () => {
  const { activities, workspace, call } = await setup();
  fake.answer({ blocks: [create(`${workspace.specDir}/spec.md`, specMarkdown), create(`${workspace.specDir}/checklists/requirements.md`, '- [x]\n'), submit({ summary: 'v2', clarifications: ['Should muted conversations notify?'] })] });
  await activities.writeSpec(specInput(call, ['Cover offline users.', 'Drop the email channel.']));
  const prompt = JSON.stringify(fake.requests[0]?.body.messages[0]);
  expect(prompt).toContain('1. Cover offline users.');
  expect(prompt).toContain('2. Drop the email channel.');
});

test('max_tokens asks the model to continue; 429 and 500 are retried by the SDK', async () => {
  const { activities, workspace, call } = await setup();
  fake.answer(
    { status: 429, error: { type: 'rate_limit_error', message: 'slow down' }, retryAfter: 0 },
    { blocks: [{ type: 'text', text: 'The spec is long and' }], stop: 'max_tokens' },
    { status: 500, error: { type: 'api_error', message: 'overloaded' }, retryAfter: 0 },
    { blocks: [create(`${workspace.specDir}/spec.md`, specMarkdown), create(`${workspace.specDir}/checklists/requirements.md`, '- [x]\n'), submit({ summary: 's', clarifications: ['Should muted conversations notify?'] })] },
  );
  await expect(activities.writeSpec(specInput(call))).resolves.toMatchObject({ summary: 's' });
  expect(fake.requests).toHaveLength(4);
  expect(JSON.stringify(fake.requests[2]?.body.messages.at(-1))).toContain('cut off at 8192 tokens');
});

test('the architect names affected services among the configured ones; the task planner writes spec-kit tasks', async () => {
  const { activities, workspace, call } = await setup();
  const dir = workspace.specDir;
  fake.answer(
    { blocks: [create(`${dir}/plan.md`, '# Plan\n'), create(`${dir}/data-model.md`, '# Data model\n'), submit({ summary: 'p', services: [{ name: 'billing', integrations: ['grpc'] }] })] },
    { blocks: [submit({ summary: 'p', services: [{ name: 'notifications', integrations: ['events'] }, { name: 'messages', integrations: ['grpc', 'schema'] }] })] },
    { blocks: [create(`${dir}/tasks.md`, '## Phase 1\n- [ ] T001 [P] [US1] Add proto in services/messages/api.proto\n- [ ] T002 [US1] Handler in services/messages/handler.go\n'), submit({ taskCount: 2 })] },
  );
  const plan = await activities.writePlan({ ...call, feature: 'f', services: ['messages', 'notifications'] });
  expect(plan.services).toEqual(['notifications', 'messages']);
  expect(plan.integrations).toEqual({ notifications: ['events'], messages: ['grpc', 'schema'] });
  expect(JSON.stringify(fake.requests[1]?.body.messages.at(-1))).toContain('unknown services billing: choose among messages, notifications');
  const tasks = await activities.writeTasks(call);
  expect(tasks).toMatchObject({ tasksPath: `${dir}/tasks.md`, taskCount: 2 });
  expect(git(workspace.path, 'log', '--format=%s', '-2')).toBe(`tasks: ${workspace.branch}\nplan: ${workspace.branch}`);
});

test('the gRPC builder commits task by task and leaves the tests passing', async () => {
  const { activities, workspace, call, settings } = await setup();
  fake.answer(
    { blocks: [create('services/messages/api/notify.proto', 'syntax = "proto3";\nservice Notify { rpc Send (Req) returns (Res); }\n'), { type: 'tool_use', name: 'commit', input: { message: 'T001: add Notify proto' } }] },
    { blocks: [create('services/messages/notify.go', 'package messages\n'), { type: 'tool_use', name: 'commit', input: { message: 'T002: Notify handler' } }, { type: 'tool_use', name: 'run_command', input: { command: 'echo ok' } }] },
    { blocks: [{ type: 'tool_use', name: 'commit', input: { message: 'T003: nothing new' } }, submit({ summary: 'Notify.Send added', testsPassed: true })] },
  );
  await expect(activities.buildGrpc({ ...call, service: messages(settings) })).resolves.toMatchObject({ summary: 'Notify.Send added' });
  expect(git(workspace.path, 'log', '--format=%s', '-2')).toBe('T002: Notify handler\nT001: add Notify proto');
  // The third commit call and the closing commit found nothing new: no empty commits.
  expect(git(workspace.path, 'rev-list', '--count', `main..${workspace.branch}`)).toBe('2');
  expect(JSON.stringify(fake.requests[2]?.body.messages.at(-1))).toMatch(/committed [0-9a-f]{40}/);
  expect(fake.requests[0]?.body.system?.[0]?.text).toMatch(/gRPC builder for the service messages[\s\S]*backward compatible/);
  expect(fake.requests[0]?.body.tools?.map((t) => t.name)).toContain('commit');
});

test('the implementer may run only the service commands; failing tests fail the phase', async () => {
  const { activities, call, settings } = await setup();
  fake.answer(
    { blocks: [{ type: 'tool_use', name: 'run_command', input: { command: 'rm -rf /' } }, { type: 'tool_use', name: 'run_command', input: { command: 'echo ok' } }] },
    { blocks: [submit({ summary: 'could not fix the flaky test', testsPassed: false })] },
  );
  await expect(activities.implementService({ ...call, service: messages(settings) })).rejects.toMatchObject({ type: 'ServiceTestsFailed', nonRetryable: true });
  const results = JSON.stringify(fake.requests[1]?.body.messages.at(-1));
  expect(results).toContain('command not allowed: rm -rf /');
  expect(results).toContain('exit code 0\\nok');
});

test('budget, turn limit, missing key and refused credentials fail non-retryably with a clear message', async () => {
  const { activities, call } = await setup({ tokenBudget: 5_000, maxTurns: 2 });
  fake.answer({ blocks: [{ type: 'tool_use', name: 'view', input: { path: '.' } }], usage: { input: 4_000, output: 2_000 } });
  await expect(activities.writeSpec(specInput(call))).rejects.toMatchObject({ type: 'TokenBudgetExhausted', nonRetryable: true, message: expect.stringMatching(/spent 6000 tokens, over what the run's token budget had left \(5000\)/) });
  // What the run already spent counts against the same budget.
  fake.answer({ blocks: [{ type: 'tool_use', name: 'view', input: { path: '.' } }], usage: { input: 100, output: 50 } });
  await expect(activities.writeSpec({ ...specInput(call), tokensUsed: 4_900 })).rejects.toMatchObject({ type: 'TokenBudgetExhausted' });

  fake.answer({ blocks: [{ type: 'tool_use', name: 'view', input: { path: '.' } }], usage: { input: 10, output: 10 } }, { blocks: [{ type: 'text', text: 'thinking' }], usage: { input: 10, output: 10 } });
  await expect(activities.writeSpec(specInput(call))).rejects.toMatchObject({ type: 'AgentTurnLimit', message: 'the spec writer did not finish within 2 turns' });

  fake.answer({ status: 401, error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  await expect(activities.writeSpec(specInput(call))).rejects.toMatchObject({ type: 'LlmAuthFailed', nonRetryable: true });

  delete process.env.SLIPWAY_TEST_ANTHROPIC_KEY;
  await expect(activities.writeSpec(specInput(call))).rejects.toMatchObject({ type: 'LlmNotConfigured', message: 'SLIPWAY_TEST_ANTHROPIC_KEY is not set: the agents cannot call the Anthropic API' });
});

test('through the real workflow: a rejected spec goes back to the spec writer with the comments, and the approved one moves on', async () => {
  const { connectTestTemporal, pendingGate, eventually, stateOf, testWorker, uniqueTaskQueue } = await import('../support/temporal');
  const { activityDoubles, testSettings } = await import('../support/doubles');
  const { featureDelivery } = await import('../../workflows/featureDelivery');
  const { decideUpdate } = await import('../../workflows/messages');
  const { activities: real, workspace, call } = await setup();
  const dir = workspace.specDir;
  const round = (summary: string, extra = '') => ({
    blocks: [create(`${dir}/spec.md`, `${specMarkdown}${extra}`), create(`${dir}/checklists/requirements.md`, '- [x]\n'), submit({ summary, clarifications: ['Should muted conversations notify?'] })],
    usage: { input: 500, output: 200 },
  });
  fake.answer(round('first draft'), round('second draft, offline users covered', '- **FR-002**: Offline users MUST get missed notifications on reconnect.\n'));

  const env = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('agents');
  const { activities, calls } = activityDoubles({ prepareWorkspace: async () => workspace, writeSpec: real.writeSpec });
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `test-agents-${taskQueue}`,
      args: [{ feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings: { ...testSettings({ gates: { spec: true } }), repository: call.repository, llm: call.llm } }],
    });
    const first = await pendingGate(handle, 'spec');
    expect(first.gates.spec?.summary).toBe('first draft\nOpen clarifications:\n- Should muted conversations notify?');
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'reject', approver: 'lead', comment: 'Cover offline users.' }] });
    const second = await eventually(async () => {
      const s = await stateOf(handle);
      return s.gates.spec?.round === 2 && s.gates.spec.status === 'pending' ? s : undefined;
    }, 'spec round 2');
    expect(second.gates.spec?.summary).toMatch(/^second draft, offline users covered/);
    expect(second.cost.byPhase.specify).toMatchObject({ inputTokens: 1000, outputTokens: 400 });
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'approve', approver: 'lead' }] });
    expect((await handle.result()).status).toBe('succeeded');
  });
  await env.close();
  expect(JSON.stringify(fake.requests[1]?.body.messages[0])).toContain('1. Cover offline users.');
  expect(calls.filter((c) => c.name === 'writeSpec')).toHaveLength(2);
  expect(git(workspace.path, 'log', '--format=%s', '-2')).toBe(`spec: ${workspace.branch} (round 2)\nspec: ${workspace.branch} (round 1)`);
});
