import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { Activities } from '../../activities';
import { TokenBook } from '../../api/auth';
import { buildServer, type ServerDeps } from '../../api/server';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { connectTestTemporal, testWorker, type TestTemporal } from './temporal';

/** The API tests' people: alice requests, the others approve. */
export const TEST_TOKENS = {
  alice: 'alice-requester-token-0001',
  lead: 'lead-approver-token-000003',
  carol: 'carol-approver-token-00004',
  dana: 'dana-approver-token-000005',
} as const;
export type TestIdentity = keyof typeof TEST_TOKENS;
export const testTokens = TokenBook.parse(Object.entries(TEST_TOKENS).map(([name, token]) => `${name}:${name === 'alice' ? 'requester' : 'approver'}:${token}`).join(','));

export interface TestApi {
  env: TestTemporal;
  app: FastifyInstance;
  /** Where it listens, e.g. http://127.0.0.1:40123 */
  base: string;
  /** A real HTTP request to the listening API (or to another at `at`), as `who` (no token without). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  call(method: 'GET' | 'POST', path: string, who?: TestIdentity, body?: unknown, at?: string): Promise<{ statusCode: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * The real API on a free port, with a real worker on the config's task queue running the given
 * activities, against the test run's Temporal dev server.
 */
export async function startTestApi(config: SlipwayConfigInput, activities: Activities, deps: Partial<Omit<ServerDeps, 'client' | 'config' | 'tokens'>> = {}): Promise<TestApi> {
  const env = await connectTestTemporal();
  const parsed = parseConfig(config);
  const worker: Worker = await testWorker(env, parsed.temporal.taskQueue, activities);
  const workerDone = worker.run();
  const app = await buildServer({ client: env.client, config: parsed, tokens: testTokens, queryTimeoutMs: 5_000, ...deps });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    env,
    app,
    base,
    async call(method, path, who, body, at = base) {
      const res = await fetch(`${at}${path}`, {
        method,
        headers: { ...(who ? { authorization: `Bearer ${TEST_TOKENS[who]}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { statusCode: res.status, body: await res.json() };
    },
    async stop() {
      await app.close();
      worker.shutdown();
      await workerDone;
      await env.close();
    },
  };
}
