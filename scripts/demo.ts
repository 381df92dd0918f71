/**
 * `npm run demo [-- --breach] [-- --soak 45s]`: one feature delivered end to end into the local
 * world, with Slipway playing nobody but itself: the demo plays the people (a requester, and a
 * different approver so four-eyes holds), commits their prepared work to the feature branch at each
 * step, approves the gates, and checks at the end that the world agrees with what the run says.
 * Uses a running `npm start` when there is one; otherwise starts everything and stops it after.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ms from 'ms';
import { parseDocument } from 'yaml';
import { loadConfig } from '../config/load';
import type { SlipwayConfig } from '../config/schema';
import type { RunState } from '../workflows/state';
import { applyChanges, demoChanges, FEATURE, MIGRATION_VERSION, type DemoStep } from '../world/demo/changes';
import { snapshotWorld, worldDifferences, type WorldSnapshot } from '../world/demo/snapshot';
import { apiUrlOf, chooseConfig, devTokens, startStack, STATE_DIR, type Stack } from './stack';

const run = promisify(execFile);

interface Options {
  breach: boolean;
  soak: string;
  interval: string;
  timeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { breach: false, soak: '60s', interval: '10s', timeoutMs: 20 * 60_000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--breach') options.breach = true;
    else if (arg === '--soak') options.soak = value();
    else if (arg === '--interval') options.interval = value();
    else if (arg === '--timeout') options.timeoutMs = Number(ms(value() as ms.StringValue));
    else throw new Error(`unknown option ${arg} (use --breach, --soak <duration>, --interval <duration>, --timeout <duration>)`);
  }
  for (const [name, text] of [['--soak', options.soak], ['--interval', options.interval]] as const) {
    if (!(Number(ms(text as ms.StringValue)) > 0)) throw new Error(`${name} ${text} is not a duration (e.g. 45s, 2m)`);
  }
  return options;
}

const say = (line: string) => console.log(line);

/** The example config with the demo's production soak: what a demo-started stack runs with. */
async function demoConfig(base: string, options: Options): Promise<string> {
  const doc = parseDocument(await readFile(base, 'utf8'));
  doc.setIn(['environments', (doc.getIn(['environments']) as { items: unknown[] }).items.length - 1, 'soak'], doc.createNode({ duration: options.soak, interval: options.interval }));
  // The file lives in .slipway/: the example's relative paths keep meaning what they meant next to it.
  const absolute = (path: (string | number)[]) => {
    const value = doc.getIn(path);
    if (typeof value === 'string') doc.setIn(path, resolve(dirname(base), value));
  };
  for (const path of [['world', 'dir'], ['repository', 'path'], ['repository', 'worktreesDir']]) absolute(path);
  const mounts = doc.getIn(['sandbox', 'cacheMounts']) as { items: unknown[] } | undefined;
  mounts?.items.forEach((_, i) => absolute(['sandbox', 'cacheMounts', i, 'path']));
  await mkdir(STATE_DIR, { recursive: true });
  const file = join(STATE_DIR, 'demo.config.yaml');
  await writeFile(file, doc.toString());
  return file;
}

class Api {
  constructor(
    readonly base: string,
    private readonly tokens: { requester: string; approver: string },
  ) {}

  async call<T>(method: 'GET' | 'POST', path: string, as: 'requester' | 'approver', body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.tokens[as]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }
}

/** One line per thing that changed, and a soak bar while a soak runs. */
class Progress {
  private seen = new Set<string>();
  private lastBar = '';

  show(state: RunState): void {
    const lines: string[] = [];
    const once = (key: string, line: string) => {
      if (!this.seen.has(key)) {
        this.seen.add(key);
        lines.push(line);
      }
    };
    once(`phase:${state.phase}:${state.environment ?? ''}`, `▸ ${state.phase}${state.environment ? ` (${state.environment})` : ''}`);
    for (const gate of Object.values(state.gates)) {
      once(`gate:${gate.name}:${gate.round}:${gate.status}`, `  gate ${gate.name}${gate.round > 1 ? ` (round ${gate.round})` : ''}: ${gate.status}${gate.decidedBy ? ` by ${gate.decidedBy}` : ''}`);
    }
    for (const image of state.images) once(`image:${image.service}:${image.digest}`, `  image ${image.service} ${image.reference.replace(/:[^:/]+$/, '')}@${image.digest.slice(0, 19)}…`);
    for (const rollout of state.rollouts) {
      once(`rollout:${rollout.workflowId}:${rollout.status}`, `  ${rollout.service} → ${rollout.environment}: ${rollout.status}${rollout.migrations.length > 0 ? ` (migrations ${rollout.migrations.join(', ')})` : ''}${rollout.reason ? ` — ${rollout.reason}` : ''}`);
    }
    for (const line of lines) {
      if (this.lastBar) process.stdout.write('\n');
      this.lastBar = '';
      say(line);
    }
    const soaking = state.rollouts.find((r) => r.status === 'running' && r.soak !== undefined && r.soak.planned > 0);
    if (soaking?.soak) {
      const { samples, planned, last } = soaking.soak;
      const width = 24;
      const filled = Math.min(width, Math.round((samples / planned) * width));
      const detail = last ? ` error ratio ${last.errorRatio !== undefined ? `${(last.errorRatio * 100).toFixed(1)}%` : 'n/a'}, p99 ${last.p99Seconds !== undefined ? `${Math.round(last.p99Seconds * 1000)} ms` : 'n/a'} (${last.verdict})` : '';
      const bar = `  soak ${soaking.service}@${soaking.environment} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${samples}/${planned}${detail}`;
      if (bar !== this.lastBar) {
        process.stdout.write(process.stdout.isTTY ? `\r${bar.padEnd(110)}` : `${bar}\n`);
        this.lastBar = process.stdout.isTTY ? bar : '';
      }
    }
  }
}

/** Plays the people: commits the prepared work on the feature branch (through the remote, as a person would) and pushes it. */
async function commitAs(state: RunState, step: DemoStep, remoteUrl: string, options: Options): Promise<void> {
  const workspace = state.workspace;
  if (workspace === undefined) throw new Error('the run has no branch yet');
  const clone = join(STATE_DIR, 'demo', state.runId);
  const git = (...args: string[]) => run('git', ['-c', 'user.name=Demo person', '-c', 'user.email=person@localhost', ...args], { cwd: clone });
  if (!existsSync(join(clone, '.git'))) {
    await mkdir(clone, { recursive: true });
    await run('git', ['clone', '--quiet', remoteUrl, clone]);
  }
  await git('fetch', '--quiet', 'origin', workspace.branch);
  await git('checkout', '--quiet', '-B', workspace.branch, 'FETCH_HEAD');
  const change = demoChanges(step, workspace.specDir, { breach: options.breach });
  await applyChanges(clone, change.files);
  await git('add', '--all');
  await git('commit', '--quiet', '-m', change.message);
  await git('push', '--quiet', 'origin', `${workspace.branch}:${workspace.branch}`);
  say(`  (a person committed and pushed "${change.message}")`);
}

const PERSON_STEPS: Record<string, DemoStep> = { spec: 'spec', plan: 'plan', tasks: 'tasks', implement: 'implement' };
const APPROVALS: Record<string, string> = {
  'migration-review': 'The down migration only runs on rollback; accepted.',
  'manifest-review': 'Manifests look right.',
  production: 'Ship it.',
};

async function drive(api: Api, runId: string, remoteUrl: string, options: Options): Promise<RunState> {
  const progress = new Progress();
  const handled = new Set<string>();
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const state = await api.call<RunState>('GET', `/runs/${runId}`, 'requester');
    progress.show(state);
    if (['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(state.status)) return state;
    for (const gate of Object.values(state.gates).filter((g) => g.status === 'pending')) {
      const key = `${gate.name}:${gate.round}`;
      if (handled.has(key)) continue;
      handled.add(key);
      const step = PERSON_STEPS[gate.name];
      if (step !== undefined && gate.round === 1) await commitAs(state, step, remoteUrl, options);
      const comment = APPROVALS[gate.name] ?? (step ? 'Done: committed and pushed.' : undefined);
      if (gate.round > 1 && step !== undefined) throw new Error(`gate ${gate.name} reopened: ${gate.summary.split('\n').slice(0, 4).join(' ')}`);
      await api.call('POST', `/runs/${runId}/gates/${gate.name}/approve`, 'approver', comment ? { comment } : {});
    }
    if (Date.now() > deadline) throw new Error(`the run did not end within ${ms(options.timeoutMs)} (phase ${state.phase}, status ${state.status})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const options = parseArgs(process.argv.slice(2));
  const scenario = options.breach ? 'breach' : 'success';
  const exampleFile = chooseConfig();
  const example = await loadConfig(exampleFile);
  if (example.world === undefined) throw new Error(`${exampleFile} has no world section: the demo delivers into the local world`);

  let stack: Stack | undefined;
  let config = example;
  const api = apiUrlOf(example);
  if (await fetch(`${api}/readyz`).then((r) => r.ok, () => false)) {
    say(`slipway: using the running Slipway at ${api} (its production soak is the config's, ${ms(example.environments.at(-1)?.soak?.duration ?? 0)})`);
  } else {
    say(`slipway: starting Slipway and the local world for the demo (production soak ${options.soak}); it stops again at the end`);
    const configFile = await demoConfig(exampleFile, options);
    config = await loadConfig(configFile);
    stack = await startStack({ configFile, progress: say, onExit: (what) => say(`slipway: ${what}`), pretty: false, logs: 'files' });
    say(`slipway: the worker's and API's logs are in ${join(STATE_DIR, 'logs')}`);
  }
  try {
    const tokens = await devTokens();
    if (tokens.requester === undefined || tokens.approver === undefined) throw new Error('the demo plays the local identities of .slipway/dev-tokens; unset SLIPWAY_API_TOKENS');
    const client = new Api(api, { requester: tokens.requester, approver: tokens.approver });
    const sampleRemote = join(config.repository.path, '..', 'remote.git');
    const world = config.world as NonNullable<SlipwayConfig['world']>;
    const before = await snapshotWorld(config, world);

    const started201 = await client.call<{ runId: string; temporalUiUrl?: string }>('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `demo-${scenario}-${Date.now()}` });
    const { runId } = started201;
    say(`\nRun ${runId} (requested by "dev"; "lead" approves)`);
    if (started201.temporalUiUrl) say(`  Temporal UI: ${started201.temporalUiUrl}`);
    say(`  Prometheus:  http://127.0.0.1:${world.prometheusPort}/graph?g0.expr=${encodeURIComponent('sum by (namespace, service) (rate(grpc_server_handled_total{grpc_code!="OK"}[1m])) / sum by (namespace, service) (rate(grpc_server_handled_total[1m]))')}`);
    say('');
    const state = await drive(client, runId, sampleRemote, options);
    say(`\n▸ run ${state.status}${state.reason ? `: ${state.reason}` : ''}\n`);
    const report = await client.call<{ markdown: string }>('GET', `/runs/${runId}/report`, 'requester');
    say(report.markdown);

    const after = await snapshotWorld(config, world);
    const problems = options.breach ? worldDifferences(before, after) : deliveredProblems(state, after);
    const expected = options.breach ? 'rolled-back' : 'succeeded';
    const worldMatches = problems.length === 0;
    say(options.breach ? (worldMatches ? 'The world equals its pre-run snapshot: every Deployment and database is back.' : `The world differs from its pre-run snapshot:\n${problems.map((p) => `  - ${p}`).join('\n')}`) : worldMatches ? 'The world agrees: every namespace runs the new digests; every database has the new migration.' : `The world disagrees with the run:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    const ok = state.status === expected && worldMatches;
    if (!ok && state.status !== expected) say(`expected the run to end ${expected}, it ended ${state.status}`);
    outcome = { scenario, runId, status: state.status, seconds: 0, worldMatches };
    return ok ? 0 : 1;
  } finally {
    if (stack) {
      say('slipway: stopping what the demo started ...');
      await stack.stop();
    }
    await rm(join(STATE_DIR, 'demo'), { recursive: true, force: true });
    // The last line, whatever happened: what a script reads.
    if (outcome !== undefined) say(JSON.stringify({ ...outcome, seconds: Math.round((Date.now() - started) / 1000) }));
  }
}

let outcome: { scenario: string; runId: string; status: string; seconds: number; worldMatches: boolean } | undefined;

/** After a delivered run: each namespace runs the run's digests, each database has the new migration. */
function deliveredProblems(state: RunState, world: WorldSnapshot): string[] {
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
  }
  return problems;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`slipway demo: ${err.message}`);
    console.log(JSON.stringify({ scenario: process.argv.includes('--breach') ? 'breach' : 'success', runId: null, status: 'error', seconds: 0, worldMatches: false, error: err.message }));
    process.exit(1);
  },
);
