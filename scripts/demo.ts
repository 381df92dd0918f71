/**
 * `npm run demo [-- --breach | --rollback-later] [-- --soak 45s]`: one feature delivered end to end into the local
 * world, with Slipway playing nobody but itself: the demo plays the people (a requester, and a
 * different approver so four-eyes holds), commits their prepared work to the feature branch at each
 * step, approves the gates, and checks at the end that the world agrees with what the run says.
 * `--rollback-later` then rolls the delivered run back (asked by the requester, approved by the
 * approver) and checks that the world equals its snapshot from before the run.
 * Uses a running `npm start` when there is one; otherwise starts everything and stops it after.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import ms from 'ms';
import { parseDocument } from 'yaml';
import { loadConfig } from '../config/load';
import type { SlipwayConfig } from '../config/schema';
import type { DeliveredRollbackState } from '../workflows/rollbackState';
import type { RunState } from '../workflows/state';
import { FEATURE } from '../world/demo/changes';
import { Api, deliveredProblems, driveRun } from '../world/demo/driver';
import { snapshotWorld, worldDifferences } from '../world/demo/snapshot';
import { renderRollback, renderRun } from '../cli/render';
import { ChangedLines, RedrawnBlock, type LiveView } from '../cli/terminal';
import { apiUrlOf, chooseConfig, devTokens, startStack, STATE_DIR, type Stack } from './stack';

interface Options {
  breach: boolean;
  rollbackLater: boolean;
  soak: string;
  interval: string;
  timeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { breach: false, rollbackLater: false, soak: '60s', interval: '10s', timeoutMs: 20 * 60_000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--breach') options.breach = true;
    else if (arg === '--rollback-later') options.rollbackLater = true;
    else if (arg === '--soak') options.soak = value();
    else if (arg === '--interval') options.interval = value();
    else if (arg === '--timeout') options.timeoutMs = Number(ms(value() as ms.StringValue));
    else throw new Error(`unknown option ${arg} (use --breach, --rollback-later, --soak <duration>, --interval <duration>, --timeout <duration>)`);
  }
  if (options.breach && options.rollbackLater) throw new Error('--breach rolls the run back itself; --rollback-later rolls back a delivered run: pick one');
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

/** The run as `slipway watch` draws it (redrawn in place on a terminal), with what the demo's people did below it. */
class Progress {
  private readonly view: LiveView = process.stdout.isTTY ? new RedrawnBlock(process.stdout) : new ChangedLines(process.stdout);
  private readonly actions: string[] = [];

  note(action: string): void {
    this.actions.push(action);
  }

  show(state: RunState): void {
    const tty = process.stdout.isTTY === true;
    const lines = renderRun(state, { color: tty, hints: false, timeline: 3, ...(tty ? { now: new Date(), width: process.stdout.columns } : { utc: true }) });
    this.view.show([...lines, '', ...this.actions.slice(-4).map((a) => `  demo: ${a}`)]);
  }
}

/** The delivered run rolled back later, as people do it: the requester asks, the approver approves, everyone waits. */
async function rollBackLater(client: Api, runId: string): Promise<DeliveredRollbackState> {
  say(`\n▸ rolling ${runId} back later: "dev" asks, "lead" approves\n`);
  const asked = await client.call<DeliveredRollbackState>('POST', `/runs/${runId}/rollback`, 'requester', { reason: 'demo: take the delivered feature back out' });
  say(renderRollback(asked, { utc: true }).join('\n'));
  await client.call('POST', `/runs/${asked.rollbackId}/gates/rollback/approve`, 'approver', { comment: 'demo: approved by a second person' });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const state = await client.call<DeliveredRollbackState>('GET', `/runs/${runId}/rollback`, 'requester');
    if (!['checking', 'awaiting-approval', 'rolling-back'].includes(state.status) || Date.now() > deadline) {
      say(`\n${renderRollback(state, { utc: true }).join('\n')}\n`);
      return state;
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const options = parseArgs(process.argv.slice(2));
  const scenario = options.breach ? 'breach' : options.rollbackLater ? 'rollback-later' : 'success';
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
    const progress = new Progress();
    const state = await driveRun({
      api: client,
      runId,
      remoteUrl: sampleRemote,
      workDir: join(STATE_DIR, 'demo'),
      breach: options.breach,
      timeoutMs: options.timeoutMs,
      onState: (s) => progress.show(s),
      onAction: (a) => progress.note(a),
    });
    say(`\n▸ run ${state.status}${state.reason ? `: ${state.reason}` : ''}\n`);
    const report = await client.call<{ markdown: string }>('GET', `/runs/${runId}/report`, 'requester');
    say(report.markdown);

    let after = await snapshotWorld(config, world);
    let problems = options.breach ? worldDifferences(before, after) : deliveredProblems(state, after);
    const expected = options.breach ? 'rolled-back' : 'succeeded';
    let worldMatches = problems.length === 0;
    say(options.breach ? (worldMatches ? 'The world equals its pre-run snapshot: every Deployment and database is back.' : `The world differs from its pre-run snapshot:\n${problems.map((p) => `  - ${p}`).join('\n')}`) : worldMatches ? 'The world agrees: every namespace runs the new digests; every database has the new migration.' : `The world disagrees with the run:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    let ok = state.status === expected && worldMatches;
    if (!ok && state.status !== expected) say(`expected the run to end ${expected}, it ended ${state.status}`);
    let status: string = state.status;
    if (ok && options.rollbackLater) {
      const rollback = await rollBackLater(client, runId);
      status = rollback.status;
      after = await snapshotWorld(config, world);
      problems = worldDifferences(before, after);
      worldMatches = problems.length === 0;
      say(worldMatches ? 'The world equals its snapshot from before the run: every Deployment and database is back.' : `The world differs from its snapshot from before the run:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      ok = rollback.status === 'rolled-back' && worldMatches;
    }
    outcome = { scenario, runId, status, seconds: 0, worldMatches };
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

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`slipway demo: ${err.message}`);
    console.log(JSON.stringify({ scenario: process.argv.includes('--breach') ? 'breach' : process.argv.includes('--rollback-later') ? 'rollback-later' : 'success', runId: null, status: 'error', seconds: 0, worldMatches: false, error: err.message }));
    process.exit(1);
  },
);
