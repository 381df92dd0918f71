import { readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { RESERVATIONS } from '../../activities/repo/numbering';
import { featureDelivery } from '../../workflows/featureDelivery';
import { testActivities } from '../support/activities';
import { testSettings } from '../support/doubles';
import type { RunState } from '../../workflows/state';
import { fixtureRepo, git } from '../support/gitRepo';
import { connectTestTemporal, eventually, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

// 100 runs started in the same moment on one repository, in person mode, with real git, a real
// remote and the real Temporal server: every one reaches its spec gate with a number of its own,
// and cancelling them all leaves no worktree behind.
const RUNS = 100;
const SAME = 'Add real-time notifications when users receive new messages';

let env: TestTemporal;
let worker: Worker;
let running: Promise<void>;
const taskQueue = uniqueTaskQueue('many-runs');
let repo: string;
let remote: string;
let worktrees: string;

beforeAll(async () => {
  ({ repo, worktrees } = await fixtureRepo());
  remote = await mkdtemp(join(tmpdir(), 'slipway-remote-'));
  git(remote, 'init', '-q', '--bare');
  git(repo, 'remote', 'add', 'origin', remote);
  git(repo, 'push', '-q', 'origin', 'main');
  env = await connectTestTemporal();
  worker = await testWorker(env, taskQueue, testActivities());
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.close();
});

test(`${RUNS} runs started at once (80 of one sentence) all reach the spec gate with distinct numbers; cancelled, they leave no worktree`, async () => {
  // Gates that outlast the test: reaching all hundred takes minutes on two cores, and an expired gate would end a run early.
  const base = testSettings({ llm: false, gates: { spec: true }, deadlineMs: 30 * 60_000 });
  const settings = { ...base, repository: { ...base.repository, path: repo, worktreesDir: worktrees, remote: 'origin', baseBranch: 'main' } };
  const stamp = Date.now();
  const handles: WorkflowHandle<typeof featureDelivery>[] = await Promise.all(
    Array.from({ length: RUNS }, (_, i) =>
      env.client.workflow.start(featureDelivery, {
        taskQueue,
        workflowId: `many-${stamp}-${i}`,
        args: [{ feature: i < 80 ? SAME : `Feature number ${i} of the planning session`, requester: 'alice', services: ['messages'], settings }],
      }),
    ),
  );

  // Each round asks only the runs not yet at their gate, and keeps what it learned even when some queries
  // time out: a hundred queries every round would load the worker this test is measuring.
  const atGate = new Map<string, RunState>();
  const states = await eventually(
    async () => {
      const waiting = handles.filter((h) => !atGate.has(h.workflowId));
      const answers = await Promise.allSettled(waiting.map((h) => stateOf(h)));
      answers.forEach((answer, i) => {
        if (answer.status !== 'fulfilled') return;
        const state = answer.value;
        if (state.status === 'failed') throw new Error(`run ${state.runId} failed: ${state.reason}`);
        if (state.gates.spec?.status === 'pending') atGate.set(waiting[i]?.workflowId ?? '', state);
      });
      if (atGate.size === RUNS) return handles.map((h) => atGate.get(h.workflowId) as RunState);
      const rejected = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
      if (rejected !== undefined) throw rejected.reason;
      await new Promise((r) => setTimeout(r, 1_000));
      return undefined;
    },
    `all ${RUNS} runs to wait at their spec gate`,
    600_000,
  );

  const branches = states.map((s) => s.workspace?.branch ?? '');
  expect(new Set(branches).size).toBe(RUNS);
  const numbers = branches.map((b) => Number(/^(\d+)-/.exec(b)?.[1]));
  // 001 is the fixture's delivered spec: the runs took 002 to 101, each once.
  expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: RUNS }, (_, i) => i + 2));
  expect(branches.filter((b) => b.endsWith('-real-time-notifications-users'))).toHaveLength(80);
  // The reservations live on the remote, so another machine's worker continues the same sequence.
  expect(git(remote, 'for-each-ref', '--format=%(refname)', RESERVATIONS).split('\n')).toHaveLength(RUNS);
  expect(readdirSync(worktrees)).toHaveLength(RUNS);

  await Promise.all(handles.map((h) => h.cancel()));
  await Promise.all(handles.map((h) => h.result().catch(() => undefined)));
  const ended = await Promise.all(handles.map((h) => h.describe()));
  expect(ended.map((d) => d.status.name).filter((s) => s !== 'CANCELLED')).toEqual([]);
  expect(readdirSync(worktrees)).toEqual([]);
  expect(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
  // The branches stay: each is its run's history, with the report of how it ended.
  expect(git(repo, 'branch', '--list').split('\n')).toHaveLength(RUNS + 1);
}, 720_000);
