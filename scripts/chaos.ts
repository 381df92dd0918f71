/**
 * `npm run chaos`: 20 person-mode runs of the demo's feature delivered into the local world (short
 * soaks) while a seeded generator kills things at random moments: `kill -9` of the worker, a
 * restart of the Temporal dev server (kept in a SQLite file) while a run soaks, a restart of the API
 * while an approval is on its way. Afterwards it checks from the world (scripts/chaosChecks.ts) that
 * every side effect happened exactly once per run. The last line is
 * `chaos: N/20 finished, D duplicated side effects, L lost`; exit 0 only for 20/20, 0, 0.
 *
 *   npm run chaos                              seed from the clock (printed), 20 runs
 *   CHAOS_SEED=7 CHAOS_RUNS=4 npm run chaos    a given seed, fewer runs
 *   CHAOS_CONCURRENCY=2                        runs in flight at once (default 2)
 */
import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load';
import type { SlipwayConfig, SlipwayConfigInput } from '../config/schema';
import type { GateRecord, RunState } from '../workflows/state';
import { FakeSlack } from '../test/support/fakeSlack';
import { startConfiguredWorld } from '../world/configured';
import { FEATURE } from '../world/demo/changes';
import { Api, driveRun } from '../world/demo/driver';
import { pool, sleep } from '../bench/load';
import { Stack } from '../bench/stack';
import { worldConfig } from '../bench/worldConfig';
import { checkWorld, installMigrationAudit, type RunOutcome } from './chaosChecks';

const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.CHAOS_RUNS ?? 20);
const CONCURRENCY = Number(process.env.CHAOS_CONCURRENCY ?? 2);
const say = (line: string) => console.log(`chaos: ${line}`);

/** mulberry32: a small seeded generator, so a failing schedule can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The API as a person uses it through outages: a refused connection or a 5xx is tried again for up to two minutes. */
class PatientApi extends Api {
  override async call<T>(method: 'GET' | 'POST', path: string, as: 'requester' | 'approver', body?: unknown): Promise<T> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        return await super.call<T>(method, path, as, body);
      } catch (err) {
        const message = (err as Error).message;
        const transient = /fetch failed|ECONNREFUSED|ECONNRESET|socket| 5\d\d /.test(message);
        if (!transient || Date.now() > deadline) throw err;
        await sleep(1_000);
      }
    }
  }
}

async function main(): Promise<number> {
  say(`seed ${SEED}, ${RUNS} runs, ${CONCURRENCY} at a time`);
  const random = seeded(SEED);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-chaos-'));
  const slack = await new FakeSlack().start();
  const input = await worldConfig(dir, (c) => ({
    ...c,
    environments: (c.environments ?? []).map((e) => (e.name === 'production' ? { ...e, soak: { duration: '30s', interval: '5s' } } : e)),
    analysis: { window: '20s', minRequests: 5, consecutiveFailures: 2, noData: 'inconclusive', unreachableLimit: 3 },
    slack: { channel: '#deploys', apiUrl: slack.apiUrl, tokenEnv: 'SLIPWAY_CHAOS_SLACK_TOKEN', signingSecretEnv: 'SLIPWAY_CHAOS_SLACK_SECRET' },
  }));
  const config: SlipwayConfig = parseConfig({ ...input, temporal: { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'slipway' } } as SlipwayConfigInput);
  say(`starting the local world in ${dir} (minutes on a first start)`);
  const world = await startConfiguredWorld(config, { progress: (line) => say(line.trim()) });
  await installMigrationAudit(config);
  const stack = new Stack({ dir, config: input, persistent: true, env: { ...world.env, SLIPWAY_CRANE: world.world.crane, SLIPWAY_CHAOS_SLACK_TOKEN: 'xoxb-chaos', SLIPWAY_CHAOS_SLACK_SECRET: 'chaos-signing-secret' }, log: say });
  const outcomes: RunOutcome[] = [];
  const states = new Map<string, RunState>();
  let driving = true;
  let chaosActions = 0;
  try {
    await stack.start();
    const api = new PatientApi(stack.apiUrl, stack.tokens);

    /** Restarts the API while this approval is on its way, with the generator's odds; the person tries again. */
    const approve = async (runId: string, gate: GateRecord, comment: string | undefined) => {
      const send = () => api.call('POST', `/runs/${runId}/gates/${gate.name}/approve`, 'approver', comment ? { comment } : {});
      if (random() < 0.25) {
        chaosActions += 1;
        say(`restarting the API while ${runId} gate ${gate.name} is approved`);
        const sent = send().catch((err: Error) => err);
        await sleep(Math.floor(random() * 30));
        await stack.api.kill();
        stack.api.start();
        await stack.waitForApi();
        const result = await sent;
        // The approval may have landed before the API went: then the gate is no longer pending.
        if (result instanceof Error && !/ 409 /.test(result.message)) await send().catch((err: Error) => (/ 409 /.test(err.message) ? undefined : Promise.reject(err)));
        return;
      }
      await send();
    };

    // The chaos: every 20-60 s, kill -9 the worker, or restart Temporal while a run soaks.
    const chaos = (async () => {
      while (driving) {
        await sleep(20_000 + random() * 40_000);
        if (!driving) break;
        const soaking = [...states.values()].some((s) => s.rollouts.some((r) => r.status === 'running' && r.step === 'soak'));
        if (soaking && random() < 0.5) {
          chaosActions += 1;
          say('restarting the Temporal dev server mid-soak');
          await stack.restartTemporal(Math.floor(random() * 3_000));
        } else {
          chaosActions += 1;
          say('kill -9 of the worker');
          await stack.worker.kill();
          await sleep(random() * 5_000);
          stack.worker.start();
          await stack.waitForWorker();
        }
      }
    })();

    await mkdir(join(dir, 'people'), { recursive: true });
    await pool(Array.from({ length: RUNS }, (_, i) => i), CONCURRENCY, async (i) => {
      const { runId } = await api.call<{ runId: string }>('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `chaos-${SEED}-${i}` });
      const outcome: RunOutcome = { runId, finished: false };
      outcomes.push(outcome);
      try {
        const state = await driveRun({
          api,
          runId,
          remoteUrl: join(config.repository.path, '..', 'remote.git'),
          workDir: join(dir, 'people'),
          breach: false,
          timeoutMs: 30 * 60_000,
          approve: (gate, comment) => approve(runId, gate, comment),
          onState: (s) => {
            states.set(runId, s);
            outcome.branch = s.workspace?.branch;
          },
        });
        outcome.status = state.status;
        outcome.finished = state.status === 'succeeded';
        say(`${runId}: ${state.status}${state.reason ? ` (${state.reason})` : ''} [${outcomes.filter((o) => o.finished).length}/${RUNS}]`);
      } catch (err) {
        say(`${runId}: not finished: ${(err as Error).message}`);
      } finally {
        states.delete(runId);
      }
    });
    driving = false;
    await chaos;
    say(`${chaosActions} faults injected; checking the world`);
    const findings = await checkWorld(config, outcomes, slack.calls);
    for (const f of findings) say(`${f.kind}: ${f.runId}: ${f.what}`);
    const finished = outcomes.filter((o) => o.finished).length;
    const duplicated = findings.filter((f) => f.kind === 'duplicate').length;
    const lost = findings.filter((f) => f.kind === 'lost').length;
    console.log(`chaos: ${finished}/${RUNS} finished, ${duplicated} duplicated side effects, ${lost} lost`);
    return finished === RUNS && duplicated === 0 && lost === 0 ? 0 : 1;
  } finally {
    driving = false;
    await stack.stop();
    await world.stop();
    await slack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`chaos: ${err.stack ?? err.message}`);
    console.log(`chaos: 0/${RUNS} finished, 0 duplicated side effects, 0 lost (the harness failed: ${err.message})`);
    process.exit(1);
  },
);
