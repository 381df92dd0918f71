/** How a soak's or watch's progress reads in the Temporal UI (current details). Pure. */
import type { AnalysisSummary } from './state';
import { DB_CONNECTIONS_CHECK, DB_QUERY_TIME_CHECK, MEMORY_CHECK } from './watchChecks';

type Last = NonNullable<AnalysisSummary['last']>;

/** The watch's own values of a sample, picked by check name. */
export function watchValues(value: (check: string) => number | undefined): Pick<Last, 'memoryGrowthPerHour' | 'dbConnectionsRatio' | 'dbQueryTimeRatio'> {
  const memoryGrowthPerHour = value(MEMORY_CHECK);
  const dbConnectionsRatio = value(DB_CONNECTIONS_CHECK);
  const dbQueryTimeRatio = value(DB_QUERY_TIME_CHECK);
  return {
    ...(memoryGrowthPerHour !== undefined ? { memoryGrowthPerHour } : {}),
    ...(dbConnectionsRatio !== undefined ? { dbConnectionsRatio } : {}),
    ...(dbQueryTimeRatio !== undefined ? { dbQueryTimeRatio } : {}),
  };
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(Math.abs(ratio) < 0.01 ? 2 : 1)} %`;

/** The last sample's values, e.g. `error ratio 0.10 % · p99 120 ms · memory +0.40 %/h · db connections 1.0× · db query time 1.1×`. */
export function lastValues(last: Last): string {
  const parts: string[] = [];
  if (last.errorRatio !== undefined) parts.push(`error ratio ${percent(last.errorRatio)}`);
  if (last.p99Seconds !== undefined) parts.push(`p99 ${Math.round(last.p99Seconds * 1000)} ms`);
  if (last.memoryGrowthPerHour !== undefined) parts.push(`memory ${last.memoryGrowthPerHour >= 0 ? '+' : ''}${percent(last.memoryGrowthPerHour)}/h`);
  if (last.dbConnectionsRatio !== undefined) parts.push(`db connections ${last.dbConnectionsRatio.toFixed(1)}× baseline`);
  if (last.dbQueryTimeRatio !== undefined) parts.push(`db query time ${last.dbQueryTimeRatio.toFixed(1)}× baseline`);
  return parts.join(' · ');
}

/** An analysis segment's details after sample `n`. */
export function analysisDetails(segment: { kind: 'soak' | 'watch'; service: { name: string }; environment: { name: string }; lastSample: number }, n: number, last: Last): string {
  const what = segment.kind === 'soak' ? 'Soak' : 'Post-deploy watch';
  const values = lastValues(last);
  return [`**${what} of ${segment.service.name} in ${segment.environment.name}**`, '', `Sample ${n} (this segment ends at ${segment.lastSample}): **${last.verdict}**`, ...(values ? [values] : []), last.detail].join('\n');
}
