/** A small client of Prometheus' HTTP API (`/api/v1/query`). */

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

/**
 * Evaluates an instant query. Returns the worst (largest) value of a vector, a scalar's value,
 * or undefined when there is no data (empty vector, NaN).
 */
export async function queryInstant(baseUrl: string, promql: string, timeoutMs: number): Promise<number | undefined> {
  const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: promql, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }),
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
  const values: number[] = [];
  if (body.data.resultType === 'scalar') {
    values.push(Number((body.data.result as [number, string])[1]));
  } else if (body.data.resultType === 'vector') {
    for (const series of body.data.result as { value: [number, string] }[]) values.push(Number(series.value[1]));
  } else {
    throw new PrometheusQueryError(`the query must return an instant vector or a scalar, not a ${body.data.resultType}`);
  }
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length > 0 ? Math.max(...finite) : undefined;
}
