/**
 * `npm run bench [-- <figure> ...]`: every benchmark against the real stack, one `BENCH {json}` line
 * per figure as it is measured, then a table. A figure that misses its target prints ok:false and
 * the run goes on; one that cannot be measured prints ok:false with value null and the reason.
 *
 *   npm run bench                          all figures, full sizes (about half an hour)
 *   npm run bench -- gate_p99_ms           only these figures
 *   BENCH_QUICK=1 npm run bench            small sizes for a quick check (a few minutes)
 *   BENCH_PARKED=300 BENCH_BURST=100 ...   one size at a time (see SIZES below)
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiStartRatio } from './figures/apiStarts';
import { breachToRollback } from './figures/breach';
import { gateLatency } from './figures/gateLatency';
import { instantRun } from './figures/instantRun';
import { maxPayload } from './figures/payload';
import { parkedRuns } from './figures/parkedRuns';
import { benchLine, missing, table, type Figure } from './figure';
import { personModeConfig, ROOT, Stack, tempRepository } from './stack';

const quick = process.env.BENCH_QUICK === '1';
const size = (name: string, full: number, small: number) => Number(process.env[name] ?? (quick ? small : full));
const SIZES = {
  rounds: size('BENCH_ROUNDS', 100, 20),
  parked: size('BENCH_PARKED', 1000, 120),
  burst: size('BENCH_BURST', 250, 40),
  statusRequests: size('BENCH_STATUS_REQUESTS', 1000, 200),
  listRequests: size('BENCH_LIST_REQUESTS', 50, 10),
  starts: size('BENCH_STARTS', 300, 60),
  startConcurrency: size('BENCH_START_CONCURRENCY', 20, 10),
  instantRuns: size('BENCH_INSTANT_RUNS', 5, 2),
  breachTrials: size('BENCH_TRIALS', 1, 1),
};

/** Every figure, its unit and target (for the line printed when it cannot be measured), and its group. */
const FIGURES = {
  api_start_vs_raw_ratio: { unit: 'ratio', target: '>= 0.8', group: 'person' },
  gate_p99_ms: { unit: 'ms', target: '<= 50', group: 'person' },
  status_under_load_5xx: { unit: 'count', target: '= 0', group: 'person' },
  parked_runs_worker_rss_mb: { unit: 'MB', target: '<= 300', group: 'person' },
  parked_runs_status_p99_ms: { unit: 'ms', target: '<= 50', group: 'person' },
  list_runs_p99_ms: { unit: 'ms', target: '<= 200', group: 'person' },
  instant_run_3_services_s: { unit: 's', target: '<= 3', group: 'instant' },
  instant_run_events: { unit: 'events', target: '<= 2000', group: 'instant' },
  max_payload_kb: { unit: 'kB', target: '<= 256', group: 'payload' },
  breach_to_rollback_s: { unit: 's', target: '<= 30', group: 'world' },
} as const;
type Name = keyof typeof FIGURES;

const log = (line: string) => console.error(`bench: ${line}`);

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = asked.filter((a) => !(a in FIGURES));
  if (unknown.length > 0) throw new Error(`unknown figure(s) ${unknown.join(', ')}; choose from ${Object.keys(FIGURES).join(', ')}`);
  const selected = new Set<Name>(asked.length > 0 ? (asked as Name[]) : (Object.keys(FIGURES) as Name[]));
  const wanted = (group: string) => [...selected].filter((n) => FIGURES[n].group === group);
  const figures: Figure[] = [];
  const report = (found: Figure[]) => {
    for (const f of found.filter((x) => selected.has(x.name as Name))) {
      figures.push(f);
      console.log(benchLine(f));
    }
  };
  /** Runs one group; if it breaks, its figures are reported as not measured, and the run goes on. */
  const group = async (name: string, work: () => Promise<Figure[]>) => {
    const names = wanted(name);
    if (names.length === 0) return;
    try {
      report(await work());
    } catch (err) {
      log(`${name}: ${(err as Error).stack ?? String(err)}`);
      report(names.filter((n) => !figures.some((f) => f.name === n)).map((n) => missing(n, FIGURES[n].unit, FIGURES[n].target, `not measured: ${(err as Error).message}`)));
    }
  };

  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
  // The world figures' sandboxed commands run as nobody, who must traverse this folder to their worktrees.
  await chmod(dir, 0o755);
  if (process.env.BENCH_TSX !== '1' && (wanted('person').length > 0 || wanted('world').length > 0)) {
    // The worker and API run as in production: compiled, with the pre-built workflow bundle.
    log('building dist/ (npm run build) so the worker and API run compiled, as in production; BENCH_TSX=1 runs them with tsx');
    await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT });
  }
  log(`working in ${dir}; sizes ${JSON.stringify(SIZES)}`);
  let stack: Stack | undefined;
  try {
    await group('person', async () => {
      const repo = await tempRepository(dir, ['messages', 'notifications', 'presence']);
      stack = await new Stack({ dir, config: personModeConfig(repo, dir), log }).start();
      log(`stack up: Temporal ${stack.temporal?.address}, API ${stack.apiUrl}, worker pid ${stack.worker.pid}`);
      const names = wanted('person');
      // Each partial result is printed at once: a later step that breaks does not lose it.
      const step = async (work: () => Promise<Figure | Figure[]>) => {
        report([await work()].flat());
      };
      if (names.includes('api_start_vs_raw_ratio')) await step(() => apiStartRatio(stack as Stack, { starts: SIZES.starts, concurrency: SIZES.startConcurrency }, log));
      if (names.includes('gate_p99_ms')) await step(() => gateLatency(stack as Stack, { rounds: SIZES.rounds }, log));
      if (names.some((n) => ['status_under_load_5xx', 'parked_runs_worker_rss_mb', 'parked_runs_status_p99_ms', 'list_runs_p99_ms'].includes(n))) {
        await step(() => parkedRuns(stack as Stack, { parked: SIZES.parked, burst: Math.min(SIZES.burst, SIZES.parked), statusRequests: SIZES.statusRequests, listRequests: SIZES.listRequests }, log));
      }
      return [];
    });
    await stack?.stop();
    stack = undefined;
    await group('instant', () => instantRun(dir, { runs: SIZES.instantRuns }, log));
    await group('payload', async () => [await maxPayload(dir, log)]);
    await group('world', async () => [await breachToRollback(dir, { trials: SIZES.breachTrials }, log)]);
  } finally {
    await (stack as Stack | undefined)?.stop();
    if (process.env.BENCH_KEEP !== '1') await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
  console.log('');
  console.log(table(figures));
  const missed = figures.filter((f) => !f.ok).map((f) => f.name);
  console.log(missed.length === 0 ? `bench: all ${figures.length} figures on target` : `bench: ${figures.length - missed.length}/${figures.length} on target; missed: ${missed.join(', ')}`);
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
