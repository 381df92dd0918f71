/**
 * Plays the people of a run: at each person's step it commits the prepared work (through the
 * remote, as a person would) and approves; it approves the review and production gates as a
 * second identity, so four-eyes holds. Used by `npm run demo` and by the full-stack test.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GateRecord, RunState } from '../../workflows/state';
import { applyChanges, BREACH_MIGRATION_VERSION, demoChanges, MIGRATION_VERSION, type DemoStep } from './changes';
import type { WorldSnapshot } from './snapshot';

const run = promisify(execFile);

/** The HTTP API as the demo's two people call it. */
export class Api {
  constructor(
    readonly base: string,
    private readonly tokens: { requester: string; approver: string },
  ) {}

  /** A GET is retried a few times on 5xx and connection errors (a busy worker, an API restarting); a POST never is. */
  async call<T>(method: 'GET' | 'POST', path: string, as: 'requester' | 'approver', body?: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${this.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${this.tokens[as]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        const text = await res.text();
        if (res.ok) return JSON.parse(text) as T;
        const error = new Error(`${method} ${path}: ${res.status} ${text}`);
        if (method === 'POST' || res.status < 500 || attempt >= 5) throw Object.assign(error, { final: true });
        throw error;
      } catch (err) {
        if ((err as { final?: boolean }).final === true || method === 'POST' || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 1_000 * attempt));
      }
    }
  }
}

export interface DriveOptions {
  api: Api;
  runId: string;
  /** The sample's bare remote, which the people clone and push to. */
  remoteUrl: string;
  /** Where the people keep their clone. */
  workDir: string;
  breach: boolean;
  timeoutMs: number;
  /** Each state seen, for a progress view. */
  onState?: (state: RunState) => void;
  /** What the people did, one line each. */
  onAction?: (action: string) => void;
  /** How a gate is approved (default: over the API as the approver); the full-stack test answers some through Slack. */
  approve?: (gate: GateRecord, comment: string | undefined) => Promise<void>;
}

const PERSON_STEPS: Record<string, DemoStep> = { spec: 'spec', plan: 'plan', tasks: 'tasks', implement: 'implement' };
const APPROVALS: Record<string, string> = {
  'migration-review': 'The down migration only runs on rollback; accepted.',
  'manifest-review': 'Manifests look right.',
  production: 'Ship it.',
};

/** Commits the prepared work of one step on the run's branch in a clone of the remote, and pushes it. */
export async function commitStep(state: RunState, step: DemoStep, options: Pick<DriveOptions, 'remoteUrl' | 'workDir' | 'breach'>): Promise<string> {
  const workspace = state.workspace;
  if (workspace === undefined) throw new Error('the run has no branch yet');
  const clone = join(options.workDir, state.runId);
  const git = (...args: string[]) => run('git', ['-c', 'user.name=Demo person', '-c', 'user.email=person@localhost', ...args], { cwd: clone });
  if (!existsSync(join(clone, '.git'))) {
    await mkdir(clone, { recursive: true });
    await run('git', ['clone', '--quiet', options.remoteUrl, clone]);
  }
  await git('fetch', '--quiet', 'origin', workspace.branch);
  await git('checkout', '--quiet', '-B', workspace.branch, 'FETCH_HEAD');
  const change = demoChanges(step, workspace.specDir, { breach: options.breach });
  await applyChanges(clone, change.files);
  await git('add', '--all');
  await git('commit', '--quiet', '-m', change.message);
  await git('push', '--quiet', 'origin', `${workspace.branch}:${workspace.branch}`);
  return change.message;
}

/** Drives the run to its end: the people's steps, every approval; returns the final state. */
export async function driveRun(options: DriveOptions): Promise<RunState> {
  const { api, runId } = options;
  const handled = new Set<string>();
  const deadline = Date.now() + options.timeoutMs;
  const approve = options.approve ?? ((gate, comment) => api.call('POST', `/runs/${runId}/gates/${gate.name}/approve`, 'approver', comment ? { comment } : {}).then(() => undefined));
  for (;;) {
    const state = await api.call<RunState>('GET', `/runs/${runId}`, 'requester');
    options.onState?.(state);
    if (['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(state.status)) return state;
    for (const gate of Object.values(state.gates).filter((g) => g.status === 'pending')) {
      const key = `${gate.name}:${gate.round}`;
      if (handled.has(key)) continue;
      handled.add(key);
      // Only a person's step (no LLM configured) waits for the people's commit; in agents mode the same gate is a review.
      const step = gate.personStep === true ? PERSON_STEPS[gate.name] : undefined;
      if (step !== undefined && gate.round > 1) {
        const history = state.timeline.slice(-8).map((e) => `${e.at} ${e.event}${e.detail ? ` (${e.detail.split('\n')[0]})` : ''}`).join('; ');
        throw new Error(`gate ${gate.name} reopened: ${gate.summary.split('\n').slice(0, 4).join(' ')} [approvals: ${state.approvals.map((a) => `${a.gate}#${a.round} ${a.decision} by ${a.by} via ${a.via}`).join(', ')}] [timeline: ${history}]`);
      }
      if (step !== undefined) {
        // Not inside `onAction?.(…)`: an optional call skips evaluating its arguments when there is no callback.
        const message = await commitStep(state, step, options);
        options.onAction?.(`a person committed and pushed "${message}"`);
      }
      const comment = APPROVALS[gate.name] ?? (step ? 'Done: committed and pushed.' : undefined);
      await approve(gate, comment);
      options.onAction?.(`lead approved gate ${gate.name}${comment ? ` ("${comment}")` : ''}`);
    }
    if (Date.now() > deadline) throw new Error(`the run did not end within ${Math.round(options.timeoutMs / 1000)} s (phase ${state.phase}, status ${state.status})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** After a delivered run: each namespace runs the run's digests, each database has the new migration. */
export function deliveredProblems(state: RunState, world: WorldSnapshot): string[] {
  const problems: string[] = [];
  for (const image of state.images) {
    for (const [namespace, deployments] of Object.entries(world.deployments)) {
      const running = deployments[image.service]?.images ?? [];
      if (!running.some((i) => i.endsWith(`@${image.digest}`))) problems.push(`${namespace}/${image.service} runs ${running.join(', ') || 'nothing'}, not ${image.digest}`);
    }
  }
  if (state.images.length === 0) problems.push('the run built no image');
  for (const [database, schema] of Object.entries(world.databases)) {
    if (!schema.versions.includes(MIGRATION_VERSION)) problems.push(`${database} lacks migration ${MIGRATION_VERSION} (has ${schema.versions.join(', ')})`);
    if (schema.versions.includes(BREACH_MIGRATION_VERSION)) problems.push(`${database} still has the --breach migration ${BREACH_MIGRATION_VERSION}`);
  }
  return problems;
}

