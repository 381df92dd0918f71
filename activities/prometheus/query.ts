/** A small client of Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`). */

/** Prometheus did not answer: connection refused, timeout, 5xx. Worth retrying. */
export class PrometheusUnreachable extends Error {
  override name = 'PrometheusUnreachable';
}

/** Prometheus answered but refused the query (bad PromQL, 4xx). Retrying will not help. */
export class PrometheusQueryError extends Error {
  override name = 'PrometheusQueryError';
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

async function post(baseUrl: string, path: string, params: Record<string, string>, timeoutMs: number): Promise<NonNullable<QueryResponse['data']>> {
  const url = new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new PrometheusUnreachable(`Prometheus at ${url.origin} is unreachable (${cause ?? (err as Error).message})`);
  }
  const body = (await response.json().catch(() => undefined)) as QueryResponse | undefined;
  if (response.status >= 500 || body === undefined) {
    throw new PrometheusUnreachable(`Prometheus at ${url.origin} answered HTTP ${response.status}${body?.error ? `: ${body.error}` : ''}`);
  }
  if (body.status !== 'success' || body.data === undefined) {
    throw new PrometheusQueryError(`Prometheus refused the query: ${body.error ?? `HTTP ${response.status}`}`);
  }
  return body.data;
}

/**
 * Evaluates an instant query. Returns the worst (largest) value of a vector, a scalar's value,
 * or undefined when there is no data (empty vector, NaN).
 */
export async function queryInstant(baseUrl: string, promql: string, timeoutMs: number): Promise<number | undefined> {
  const data = await post(baseUrl, 'api/v1/query', { query: promql }, timeoutMs);
  const values: number[] = [];
  if (data.resultType === 'scalar') {
    values.push(Number((data.result as [number, string])[1]));
  } else if (data.resultType === 'vector') {
    for (const series of data.result as { value: [number, string] }[]) values.push(Number(series.value[1]));
  } else {
    throw new PrometheusQueryError(`the query must return an instant vector or a scalar, not a ${data.resultType}`);
  }
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length > 0 ? Math.max(...finite) : undefined;
}

/**
 * Evaluates a query at every `stepSeconds` from `fromMs` to `toMs` and returns the finite values
 * of every series it gives, in time order per series (a step without data gives no value).
 */
export async function queryRange(baseUrl: string, promql: string, range: { fromMs: number; toMs: number; stepSeconds: number }, timeoutMs: number): Promise<number[]> {
  const data = await post(baseUrl, 'api/v1/query_range', { query: promql, start: String(range.fromMs / 1000), end: String(range.toMs / 1000), step: String(range.stepSeconds) }, timeoutMs);
  if (data.resultType !== 'matrix') throw new PrometheusQueryError(`a range query must return a range vector, not a ${data.resultType}`);
  return (data.result as { values: [number, string][] }[]).flatMap((series) => series.values.map(([, value]) => Number(value)).filter((v) => Number.isFinite(v)));
}
