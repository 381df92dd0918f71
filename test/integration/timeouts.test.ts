/**
 * Honest timeouts: a two-minute command (the commands profile's heartbeat timeout is one minute)
 * and a model answer that streams for longer than the agents profile's two-minute heartbeat
 * timeout both finish on their first attempt, because the activities heartbeat on a timer while
 * they wait. Slow by nature: about two and a half minutes, in parallel with the other files.
 */
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { testActivities } from '../support/activities';
import { settingsFrom } from '../support/doubles';
import { FakeAnthropic } from '../support/fakeAnthropic';
import { fixtureRepo } from '../support/gitRepo';
import { connectTestTemporal, uniqueTaskQueue } from '../support/temporal';

const COMMAND_SECONDS = 120;
const MODEL_PAUSE_MS = 130_000;

test('a two-minute command and a slow model answer complete without a retry', async () => {
  const fake = await new FakeAnthropic().start();
  const env = await connectTestTemporal();
  try {
    process.env.SLIPWAY_TEST_ANTHROPIC_KEY = 'sk-ant-test';
    const { repo, worktrees } = await fixtureRepo();
    const settings = settingsFrom({
      repository: { path: repo, worktreesDir: worktrees },
      services: [{ name: 'messages', path: 'services/messages', commands: { test: `sleep ${COMMAND_SECONDS} && echo tests pass` } }],
      environments: [{ name: 'production' }],
      llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_ANTHROPIC_KEY', baseUrl: fake.url },
    });
    const activities = testActivities();
    const workspace = await activities.prepareWorkspace({ runId: 'run-slow', feature: 'Slow things', repository: settings.repository });
    const dir = workspace.specDir;
    fake.answer({
      pauseMs: MODEL_PAUSE_MS,
      blocks: [
        { type: 'tool_use', name: 'create_file', input: { path: `${dir}/spec.md`, content: '# Spec\n' } },
        { type: 'tool_use', name: 'create_file', input: { path: `${dir}/checklists/requirements.md`, content: '- [x]\n' } },
        { type: 'tool_use', name: 'submit_result', input: { summary: 'slow but complete', clarifications: [] } },
      ],
    });

    const bundle = await bundleWorkflowCode({ workflowsPath: join(__dirname, '../support/workflows/timeouts.ts'), logger: new DefaultLogger('WARN') });
    const taskQueue = uniqueTaskQueue('timeouts');
    const native = await NativeConnection.connect({ address: env.address });
    const worker = await Worker.create({ connection: native, taskQueue, workflowBundle: bundle, activities });
    const workflowId = `test-timeouts-${taskQueue}`;
    const result = await worker.runUntil(
      env.client.workflow.execute('longActivities', {
        taskQueue,
        workflowId,
        args: [
          {
            tests: { runId: 'run-slow', services: settings.services, workspace },
            spec: { runId: 'run-slow', feature: 'Slow things', workspace, repository: settings.repository, llm: settings.llm, comments: [] },
          },
        ],
      }),
    );
    await native.close();
    expect(result).toEqual({ tests: true, spec: 'slow but complete' });
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const started = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt);
    expect(started).toEqual([1, 1]);
    expect(events.some((e) => e.activityTaskTimedOutEventAttributes)).toBe(false);
    expect(fake.requests).toHaveLength(1);
  } finally {
    await env.close();
    await fake.stop();
  }
}, 300_000);
