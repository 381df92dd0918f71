/**
 * Test coverage as the common tools leave it in a service's folder: Istanbul's or c8's
 * `coverage-summary.json` (the json-summary reporter), an lcov `lcov.info`, or Go's cover profile
 * (`go test -coverprofile`) and `go test -cover` output saved to a file. Pure parsers.
 */
import type { Coverage } from '../../workflows/report';

/** Where each format is looked for, relative to the service's folder, in this order. */
export const COVERAGE_FILES: { path: string; parse: (text: string) => number | undefined; format: Coverage['format'] }[] = [
  { path: 'coverage/coverage-summary.json', parse: istanbulSummaryPercent, format: 'istanbul' },
  { path: 'coverage/lcov.info', parse: lcovPercent, format: 'lcov' },
  { path: 'lcov.info', parse: lcovPercent, format: 'lcov' },
  { path: 'coverage.out', parse: goCoveragePercent, format: 'go' },
  { path: 'cover.out', parse: goCoveragePercent, format: 'go' },
  { path: 'coverage.txt', parse: goCoveragePercent, format: 'go' },
];

export class CoverageUnreadable extends Error {
  override name = 'CoverageUnreadable';
}

const round = (value: number) => Math.round(value * 100) / 100;

/** `total.lines.pct` of a json-summary report (lines, as lcov and the seed's "coverage %"). */
export function istanbulSummaryPercent(text: string): number {
  let summary: unknown;
  try {
    summary = JSON.parse(text);
  } catch (err) {
    throw new CoverageUnreadable(`not JSON: ${(err as Error).message}`);
  }
  const lines = (summary as { total?: { lines?: { total?: unknown; covered?: unknown; pct?: unknown } } } | null)?.total?.lines;
  if (typeof lines?.total === 'number' && typeof lines.covered === 'number') return lines.total === 0 ? 100 : round((100 * lines.covered) / lines.total);
  if (typeof lines?.pct === 'number') return lines.pct;
  throw new CoverageUnreadable('no total.lines with total and covered counts');
}

/** Lines hit over lines found, summed over every record (`LH:` / `LF:`). */
export function lcovPercent(text: string): number {
  let found = 0;
  let hit = 0;
  let records = 0;
  for (const line of text.split('\n')) {
    const m = /^(LF|LH):(\d+)\s*$/.exec(line);
    if (m?.[1] === 'LF') {
      found += Number(m[2]);
      records++;
    } else if (m?.[1] === 'LH') hit += Number(m[2]);
  }
  if (records === 0) throw new CoverageUnreadable('no LF: line counts (is it an lcov tracefile?)');
  return found === 0 ? 100 : round((100 * hit) / found);
}

/**
 * A cover profile (`mode: set`, then `file:l.c,l.c statements count` per block): statements in
 * blocks run at least once over all statements, each block counted once however many packages
 * list it. Text from `go test -cover` instead (`coverage: 81.2% of statements` per package): the
 * mean of the packages' figures, as Go prints no statement counts there.
 */
export function goCoveragePercent(text: string): number {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines[0]?.startsWith('mode:')) {
    const blocks = new Map<string, { statements: number; covered: boolean }>();
    for (const line of lines.slice(1)) {
      const m = /^(.+:\d+\.\d+,\d+\.\d+) (\d+) (\d+)$/.exec(line);
      if (m === null) throw new CoverageUnreadable(`not a cover profile line: ${line.slice(0, 80)}`);
      const key = m[1] ?? '';
      const previous = blocks.get(key);
      blocks.set(key, { statements: Number(m[2]), covered: (previous?.covered ?? false) || Number(m[3]) > 0 });
    }
    let total = 0;
    let covered = 0;
    for (const block of blocks.values()) {
      total += block.statements;
      if (block.covered) covered += block.statements;
    }
    return total === 0 ? 100 : round((100 * covered) / total);
  }
  const figures = [...text.matchAll(/coverage: (\d+(?:\.\d+)?)% of statements/g)].map((m) => Number(m[1]));
  if (figures.length === 0) throw new CoverageUnreadable('neither a cover profile (mode: …) nor `go test -cover` output (coverage: N% of statements)');
  return round(figures.reduce((a, b) => a + b, 0) / figures.length);
}
