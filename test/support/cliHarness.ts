import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliIo } from '../../cli/program';

/** The HTTP transport only: records what the CLI sends (method, path, JSON body) and answers with one reply. */
export function transport(reply: { status?: number; body: unknown }) {
  const sent: { method: string; path: string; body: unknown }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    sent.push({ method: init?.method ?? 'GET', path: new URL(String(input)).pathname, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    return new Response(JSON.stringify(reply.body), { status: reply.status ?? 200, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { sent, fetch };
}

/** One `slipway` command line against `fetch`, as an approver, in UTC; what it printed and its exit code. */
export async function runSlipway(argv: string[], fetch: typeof globalThis.fetch, token = 'lead-approver-token-000003') {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => void (stdout += t) },
    stderr: { write: (t: string) => void (stderr += t) },
    env: { SLIPWAY_TOKEN: token, SLIPWAY_API: 'http://api.test:8080', TZ: 'UTC' },
    cwd: await mkdtemp(join(tmpdir(), 'slipway-cli-cwd-')),
    home: await mkdtemp(join(tmpdir(), 'slipway-cli-home-')),
    sleep: async () => undefined,
    fetch,
  };
  return { code: await runCli(argv, io), stdout, stderr };
}
