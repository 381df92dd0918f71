/** A benchmark figure: what was measured, against what target, printed as one BENCH line and a table row. */
import Table from 'cli-table3';
import { quantileSorted } from 'simple-statistics';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** What we aim for, e.g. "<= 50" or ">= 0.8". */
  target: string;
  ok: boolean;
  /** How it was measured (sample size, spread), for the table only. */
  detail?: string;
}

export type Comparison = '<=' | '>=' | '=';

export function figure(name: string, value: number, unit: string, comparison: Comparison, bound: number, detail?: string): Figure {
  const ok = Number.isFinite(value) && (comparison === '<=' ? value <= bound : comparison === '>=' ? value >= bound : value === bound);
  return { name, value: Number(value.toFixed(value >= 100 ? 0 : 3)), unit, target: `${comparison} ${bound}`, ok, ...(detail !== undefined ? { detail } : {}) };
}

/** A figure that could not be measured: ok:false, with the reason in its detail. */
export function missing(name: string, unit: string, target: string, reason: string): Figure {
  return { name, value: NaN, unit, target, ok: false, detail: reason };
}

/** The BENCH line: machine-readable, comparable run to run. */
export function benchLine(f: Figure): string {
  return `BENCH ${JSON.stringify({ name: f.name, value: Number.isFinite(f.value) ? f.value : null, unit: f.unit, target: f.target, ok: f.ok })}`;
}

export function table(figures: Figure[]): string {
  const t = new Table({ head: ['figure', 'value', 'target', 'ok', 'how'], colWidths: [28, 14, 12, 6, 70], wordWrap: true, style: { head: [], border: [] } });
  for (const f of figures) t.push([f.name, Number.isFinite(f.value) ? `${f.value} ${f.unit}` : '—', `${f.target} ${f.unit}`, f.ok ? 'yes' : 'NO', f.detail ?? '']);
  return t.toString();
}

/** Percentile p (0–100) of the values; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  return quantileSorted([...values].sort((a, b) => a - b), p / 100);
}

export function spread(values: number[], unit: string): string {
  const f = (p: number) => percentile(values, p).toFixed(1);
  return `n=${values.length} p50=${f(50)} p95=${f(95)} p99=${f(99)} max=${f(100)} ${unit}`;
}
