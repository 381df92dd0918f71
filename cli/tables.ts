/** Tables for `slipway list` and `slipway evidence`. Pure, like render.ts. */
import type { z } from 'zod';
import type { evidenceReply, runSummary } from '../api/schemas';
import type { CheckResult, SoakSample } from '../workflows/state';
import { formatClock, formatDateTime, oneLine } from './render';

/** Columns padded to their widest cell; the last column is not padded. */
export function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

const clipText = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export function renderRunList(runs: z.infer<typeof runSummary>[], options: { utc?: boolean } = {}): string[] {
  if (runs.length === 0) return ['no runs match'];
  return table(
    ['RUN', 'STATUS', 'PHASE', 'SERVICES', 'STARTED', 'FEATURE'],
    runs.map((run) => [
      oneLine(run.runId),
      oneLine(`${run.status ?? run.temporalStatus.toLowerCase()}${run.held !== undefined ? ' (held by a freeze)' : ''}`),
      oneLine(run.phase ?? '-'),
      oneLine(run.services.join(',') || '-'),
      formatDateTime(run.startedAt, options.utc ?? false),
      clipText(oneLine(run.feature ?? ''), 60),
    ]),
  );
}

/** A number short enough for a table cell: 0.0012, 12.5, 1.2e-7. */
export function formatValue(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 1e-4 && Math.abs(value) < 1e6 ? String(Number(value.toPrecision(3))) : value.toExponential(2);
}

/** `0.0012 ≤ 0.05`, `0.12 > 0.05 FAIL`, `no data (> 0.05 fails)`. */
export function formatCheck(check: CheckResult): string {
  const failing = check.failWhen === 'above' ? '>' : '<';
  const passing = check.failWhen === 'above' ? '≤' : '≥';
  if (check.status === 'no-data') return `no data (${failing} ${formatValue(check.threshold)} fails)`;
  if (check.status === 'error' || check.value === undefined) return `error (${failing} ${formatValue(check.threshold)} fails)`;
  return check.status === 'fail' ? `${formatValue(check.value)} ${failing} ${formatValue(check.threshold)} FAIL` : `${formatValue(check.value)} ${passing} ${formatValue(check.threshold)}`;
}

/** One row per sample: time, verdict, decision, then each check's value against its threshold. */
export function renderEvidence(page: z.infer<typeof evidenceReply>, options: { utc?: boolean } = {}): string[] {
  const title = `${page.kind} of ${page.service} in ${page.environment}: ${page.total} sample(s), page ${page.page} of ${page.pages}`;
  if (page.samples.length === 0) return [title, 'no samples on this page'];
  const checkNames = [...new Set(page.samples.flatMap((s) => (s.checks ?? []).map((c) => c.name)))];
  const withNote = page.samples.some((s) => s.error !== undefined || (s.checks ?? []).length === 0);
  const note = (s: SoakSample) => clipText(oneLine(s.error ?? s.detail), 80);
  const rows = page.samples.map((sample) => [
    sample.sample !== undefined ? String(sample.sample) : '-',
    formatClock(sample.at, options.utc ?? false),
    sample.verdict,
    sample.decision ?? '-',
    sample.requests !== undefined ? formatValue(sample.requests) : '-',
    ...checkNames.map((name) => {
      const check = sample.checks?.find((c) => c.name === name);
      return check ? formatCheck(check) : '-';
    }),
    ...(withNote ? [note(sample)] : []),
  ]);
  return [title, '', ...table(['#', 'TIME', 'VERDICT', 'DECISION', 'REQUESTS', ...checkNames.map((n) => oneLine(n).toUpperCase()), ...(withNote ? ['NOTE'] : [])], rows)];
}
