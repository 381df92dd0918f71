/**
 * Slipway's own alerts and dashboard (deploy/observability/): promtool checks and unit-tests the
 * rules; every dashboard query must parse as PromQL (promtool, through a throwaway recording rule)
 * and name only metrics Slipway or the Temporal SDK actually export.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createApiMetrics } from '../../api/metrics';
import { WorkerMetrics } from '../../worker/metrics';

const run = promisify(execFile);
const dir = resolve(__dirname, '../../deploy/observability');
const promtool = (...args: string[]) => run(process.env.SLIPWAY_TEST_PROMTOOL ?? 'promtool', args, { cwd: join(dir, 'prometheus') });

/** The Temporal SDK (Core) metrics Slipway's rules and dashboard use, as the worker exports them (see workerTelemetry.test.ts). */
const SDK_METRICS = new Set([
  'temporal_worker_task_slots_available',
  'temporal_workflow_task_schedule_to_start_latency_bucket',
  'temporal_activity_schedule_to_start_latency_bucket',
  'temporal_activity_execution_failed_total',
  'temporal_sticky_cache_size',
]);

async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [new WorkerMetrics().registry, createApiMetrics().registry]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${metric.name}${suffix}`);
    }
  }
  // The visibility gauge exists only with a Temporal client.
  names.add('slipway_runs_open');
  return names;
}

const referenced = (text: string) => new Set([...text.matchAll(/\b((?:slipway|temporal)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string).filter((name) => !name.startsWith('slipway_worker_metrics')));

test('promtool checks the rules and passes their unit tests (alerts fire and stay quiet when they should)', async () => {
  const check = await promtool('check', 'rules', 'slipway-rules.yaml');
  expect(check.stdout).toMatch(/SUCCESS: 9 rules found/);
  const unit = await promtool('test', 'rules', 'slipway-rules.test.yaml');
  expect(unit.stdout).toContain('SUCCESS');
});

test('the rules name only metrics that exist', async () => {
  const names = await exportedNames();
  const text = await readFile(join(dir, 'prometheus/slipway-rules.yaml'), 'utf8');
  for (const name of referenced(text)) expect([name, names.has(name) || SDK_METRICS.has(name)]).toEqual([name, true]);
});

test('every dashboard panel queries the templated Prometheus with valid PromQL over metrics that exist', async () => {
  const dashboard = JSON.parse(await readFile(join(dir, 'grafana/slipway-dashboard.json'), 'utf8')) as {
    uid: string;
    templating: { list: { name: string; type: string }[] };
    panels: { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
  };
  expect(dashboard.uid).toBe('slipway-self');
  expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  expect(panels.length).toBeGreaterThanOrEqual(15);
  const names = await exportedNames();
  const exprs: string[] = [];
  for (const panel of panels) {
    expect([panel.title, panel.datasource?.uid]).toEqual([panel.title, '${datasource}']);
    expect([panel.title, (panel.targets ?? []).length > 0]).toEqual([panel.title, true]);
    for (const target of panel.targets ?? []) {
      exprs.push(target.expr);
      for (const name of referenced(target.expr)) expect([panel.title, name, names.has(name) || SDK_METRICS.has(name)]).toEqual([panel.title, name, true]);
    }
  }
  // Grafana's own variables replaced, each query becomes a recording rule promtool must parse.
  const file = join(await mkdtemp(join(tmpdir(), 'slipway-dashboard-')), 'queries.yaml');
  const rules = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: expr.replaceAll('$__rate_interval', '1m') }));
  await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  const { stdout } = await promtool('check', 'rules', file);
  expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
});
