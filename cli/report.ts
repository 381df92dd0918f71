/** `slipway report`: the summary report as terminal lines, from the API's JSON. Pure, like render.ts. */
import { formatDuration, type RunReport } from '../workflows/report';
import { oneLine } from './render';
import { table } from './tables';

const pct = (ratio: number) => `${(ratio * 100).toFixed(2)}%`;
const ms = (seconds: number) => `${Math.round(seconds * 1000)}ms`;
const indent = (lines: string[], by = '  ') => lines.map((l) => `${by}${l}`.trimEnd());
const more = (shown: number, total: number) => (total > shown ? [`… and ${total - shown} more`] : []);
const undone = { 'in-place': '', undone: ' (undone by the run)', 'undo-failed': ' (UNDO FAILED)' } as const;

export function renderReport(report: RunReport): string[] {
  const t = (text: string) => oneLine(text);
  const out: string[] = [
    `Run report: ${t(report.feature)}`,
    ...indent(
      table(
        ['', ''],
        [
          ['run', t(report.runId)],
          ['status', `${t(report.status)}${report.reason ? ` — ${t(report.reason)}` : ''}${report.final ? '' : ' (not final: the run goes on)'}`],
          ['branch', `${t(report.branch ?? '?')}${report.baseCommit && report.headCommit ? ` (${report.baseCommit.slice(0, 12)}..${report.headCommit.slice(0, 12)})` : ''}`],
          ['requested', `${t(report.requester)} · started ${t(report.startedAt)}${report.endedAt ? ` · ended ${t(report.endedAt)}` : ''}`],
        ],
      ).slice(1),
    ),
  ];
  const section = (title: string, lines: string[]) => out.push('', title, ...indent(lines.length > 0 ? lines : ['none']));
  const notYet = report.factsGathered ? undefined : '? (read from the branch when the run ends)';

  section(
    'SERVICES MODIFIED',
    report.servicesModified.flatMap((s) => [
      `${t(s.service)}${s.integrations !== undefined ? ` (plan: ${s.integrations.map(t).join(', ') || 'code only'})` : ''}`,
      ...indent([
        `files: ${notYet ?? s.filesTotal}`,
        ...indent([...s.files.map((f) => `${f.change.padEnd(8)} ${t(f.path)}`), ...(notYet ? [] : more(s.files.length, s.filesTotal))]),
        `gRPC: ${notYet ?? (s.grpcTotal === 0 ? 'no methods added or changed' : `${s.grpcTotal} method(s)`)}`,
        ...indent([...s.grpc.map((g) => `${g.change.padEnd(8)} ${t(`${g.service}/${g.method}`)}: ${t(g.signature)}${g.was ? ` (was ${t(g.was)})` : ''}`), ...more(s.grpc.length, s.grpcTotal)]),
        `events: ${[...s.events.produces.map((e) => `produces ${t(e)}`), ...s.events.consumes.map((e) => `consumes ${t(e)}`)].join(', ') || 'none listed'}`,
        `migrations: ${s.migrations.map(t).join(', ') || notYet || 'none'}`,
        ...s.problems.map((p) => `not read: ${t(p)}`),
      ]),
    ]),
  );

  section(
    'MIGRATIONS APPLIED',
    report.migrations.length === 0
      ? []
      : table(['SERVICE', 'ENVIRONMENT', 'DATABASE', 'VERSIONS', 'REVERTED'], report.migrations.map((m) => [t(m.service), t(m.environment), t(m.database), m.versions.map(t).join(', '), m.state === 'undone' ? 'yes' : m.state === 'undo-failed' ? 'FAILED' : 'no'])),
  );

  section(
    'DEPLOYMENTS',
    report.deployments.length === 0
      ? []
      : table(
          ['ENVIRONMENT', 'SERVICE', 'RESULT', 'REVISION', 'DIGEST', 'DEPLOYED', 'SOAK'],
          report.deployments.map((d) => [
            t(d.environment),
            t(d.service),
            `${d.result}${d.state === 'undone' ? ', rolled back' : d.state === 'undo-failed' ? ', ROLLBACK FAILED' : ''}`,
            d.revision !== undefined ? `${d.previousRevision ?? '-'} → ${d.revision}` : '-',
            t(d.digest ?? d.image ?? '-'),
            t(d.at ?? '-'),
            t(d.soak ?? d.reason ?? '-'),
          ]),
        ),
  );

  const o = report.observability;
  section('OBSERVABILITY', [
    ...(o.written ? [] : ['not written: the run ended before the observability phase']),
    ...(o.dashboard ? [`dashboard: ${t(o.dashboard.path)} — ${t(o.dashboard.url ?? (o.grafanaUrl === undefined ? 'no URL (set observability.grafanaUrl in the config)' : 'no URL (no uid)'))}`] : []),
    ...(o.alertsTotal > 0 ? [`alerts: ${o.alerts.map(t).join(', ')}${o.alertsTotal > o.alerts.length ? ` … and ${o.alertsTotal - o.alerts.length} more` : ''}`] : []),
    `tracing: ${o.tracing.length === 0 ? (notYet ?? 'none') : o.tracing.map((x) => `${t(x.service)} ${x.endpoint ? `→ ${t(x.endpoint)}` : 'not configured'}`).join('; ')}`,
  ]);

  section('DOCUMENTATION', [...report.documentation.files.map((f) => `${t(f.change)} ${t(f.path)}`), ...more(report.documentation.files.length, report.documentation.total)]);

  section(
    'QUALITY METRICS',
    table(
      ['SERVICE', 'COVERAGE', 'PERF REGRESSION', 'PROD ERRORS', 'PROD P99', 'SOAK'],
      report.quality.map((q) => [
        t(q.service),
        q.coverage ? `${q.coverage.percent.toFixed(1)}% (${q.coverage.format})` : report.factsGathered ? 'not reported' : '?',
        q.performance ? `${q.performance.regressionPercent >= 0 ? '+' : ''}${q.performance.regressionPercent.toFixed(1)}%` : report.factsGathered ? 'not reported' : '?',
        q.production?.errorRatio !== undefined ? `${pct(q.production.errorRatio)} (slo ${pct(q.sloErrorRatio)})` : 'no data',
        q.production?.p99Seconds !== undefined ? `${ms(q.production.p99Seconds)} (slo ${ms(q.sloP99Seconds)})` : 'no data',
        q.production ? `${t(q.production.decision)} ${q.production.samples}/${q.production.planned}` : '-',
      ]),
    ),
  );

  const m = report.monitoring;
  section(
    `${m.durationMs !== undefined ? formatDuration(m.durationMs).toUpperCase() : '24-HOUR'} MONITORING`,
    !m.configured
      ? ['not configured (analysis.watch in the config)']
      : m.watches.length === 0
        ? ['not started']
        : table(['SERVICE', 'ENVIRONMENT', 'STATUS', 'SAMPLES', 'FAILING', 'LATEST'], m.watches.map((w) => [t(w.service), t(w.environment), t(w.status), `${w.samples}/${w.planned}`, String(w.failing), t(w.reason ?? w.last ?? '-')])),
  );

  const left = report.rollback.steps.filter((s) => s.state !== 'undone');
  section('ROLLBACK PLAN', [
    left.length === 0
      ? 'nothing of this run is left in place to undo'
      : report.status === 'succeeded'
        ? `slipway rollback ${t(report.runId)} -m "why" runs these steps, newest change first, once another approver approves (refused when a later run changed the same services or databases); by hand:`
        : 'undo this run by hand, newest change first:',
    ...report.rollback.steps.flatMap((s) => [`# ${t(s.service)} in ${t(s.environment)}, ${s.kind}${s.note ? `: ${t(s.note)}` : ''}${undone[s.state]}`, ...s.commands.map((c) => `  ${t(c)}`)]),
  ]);
  return out;
}
