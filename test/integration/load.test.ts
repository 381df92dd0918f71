import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { readLoadPlans, startLoad, type LoadGenerator, type LoadPlan, type LoadStats } from '../../world/load';
import { ensureSampleRepo, SAMPLE_SERVICE_COMMANDS, SAMPLE_SERVICES, sampleCommandEnv, type SampleRepo } from '../../world/sampleRepo';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { applyUpMigrations, metricSum, runCommand, startSampleServer, type SampleServer } from '../support/sampleServices';

const RATE = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Completed calls of one target, all methods and codes. */
const total = (stats: LoadStats, namespace: string, service: string) =>
  Object.values(stats.calls[namespace]?.[service] ?? {}).reduce((sum, byCode) => sum + Object.values(byCode).reduce((a, b) => a + b, 0), 0);
const byCode = (stats: LoadStats, namespace: string, service: string) => {
  const codes: Record<string, number> = {};
  for (const counts of Object.values(stats.calls[namespace]?.[service] ?? {})) for (const [code, n] of Object.entries(counts)) codes[code] = (codes[code] ?? 0) + n;
  return codes;
};

/** A port that accepts connections and never answers: a hung service. */
async function hungServer(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A loopback port nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

describe('the load generator', () => {
  let dir: string;
  let sample: SampleRepo;
  let database: TestDatabase;
  let messages: SampleServer;
  let notifications: SampleServer;
  let hung: Awaited<ReturnType<typeof hungServer>>;
  let plans: Record<string, LoadPlan>;
  let load: LoadGenerator | undefined;
  const servicesFile = () => join(dir, 'services.json');
  const writeServices = (entries: { namespace: string; service: string; grpc: string }[]) =>
    writeFile(servicesFile(), JSON.stringify(entries.map((e) => ({ namespace: e.namespace, service: e.service, ports: { grpc: e.grpc, http: '127.0.0.1:1' } }))));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-load-'));
    sample = await ensureSampleRepo({ dir: join(dir, 'world') });
    for (const service of SAMPLE_SERVICES) {
      for (const step of ['setup', 'build'] as const) {
        const result = await runCommand(SAMPLE_SERVICE_COMMANDS[service][step], sample.path, sampleCommandEnv(sample.npmCache));
        if (result.code !== 0) throw new Error(`${service} ${step}: ${result.output}`);
      }
    }
    database = await freshDatabase();
    await applyUpMigrations(database.url, join(sample.path, 'services/messages/migrations'));
    notifications = await startSampleServer(join(sample.path, 'services/notifications'));
    messages = await startSampleServer(join(sample.path, 'services/messages'), { DATABASE_URL: database.url, NOTIFICATIONS_ADDR: notifications.grpc });
    hung = await hungServer();
    plans = await readLoadPlans(sample.path);
  }, 120_000);

  afterAll(async () => {
    await load?.stop();
    await messages?.stop();
    await notifications?.stop();
    await hung?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('reads the plans of the repository', () => {
    expect(Object.keys(plans)).toEqual(['messages', 'notifications']);
    expect(plans.messages?.proto).toBe('services/messages/proto/messages.proto');
    expect(plans.messages?.calls.map((c) => c.method)).toEqual(['SendMessage', 'ListMessages']);
  });

  test('sends steady traffic to every service in every namespace, counts errors, follows the services file, and stops', async () => {
    await writeServices([
      { namespace: 'dev', service: 'messages', grpc: messages.grpc },
      { namespace: 'dev', service: 'notifications', grpc: notifications.grpc },
      { namespace: 'staging', service: 'notifications', grpc: notifications.grpc },
      { namespace: 'staging', service: 'messages', grpc: hung.address },
      // Not in any plan: no traffic.
      { namespace: 'dev', service: 'prometheus', grpc: '127.0.0.1:1' },
    ]);
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
    load = startLoad({ servicesFile: servicesFile(), calls: plans, ratePerSecond: RATE, protoRoot: sample.path, log, deadlineMs: 500, maxInFlight: 5, pollMs: 200 });

    await sleep(1_000);
    const first = load.stats();
    expect(first.targets.map((t) => `${t.namespace}/${t.service}`).sort()).toEqual(['dev/messages', 'dev/notifications', 'staging/messages', 'staging/notifications']);
    await sleep(3_000);
    const second = load.stats();

    // The configured rate, per service per namespace, within 20 % over three seconds.
    for (const [namespace, service] of [['dev', 'messages'], ['dev', 'notifications'], ['staging', 'notifications']] as const) {
      const rate = (total(second, namespace, service) - total(first, namespace, service)) / 3;
      expect(rate).toBeGreaterThan(RATE * 0.8);
      expect(rate).toBeLessThan(RATE * 1.2);
      expect(Object.keys(byCode(second, namespace, service))).toEqual(['OK']);
    }
    // The plan's weights (2 SendMessage : 1 ListMessages), as a steady mix.
    const dev = second.calls.dev?.messages ?? {};
    expect(Math.abs((dev.SendMessage?.OK ?? 0) - 2 * (dev.ListMessages?.OK ?? 0))).toBeLessThanOrEqual(2);
    expect(second.calls.dev?.prometheus).toBeUndefined();

    // The hung service: calls end at their deadline, at most 5 are open, the rest are shed and counted.
    const hungCodes = byCode(second, 'staging', 'messages');
    expect(Object.keys(hungCodes)).toEqual(['DeadlineExceeded']);
    expect(second.shed.staging?.messages ?? 0).toBeGreaterThan(20);
    // (Per target: the healthy ones may have a call of their own open at this instant.)
    expect(second.targets.find((t) => t.namespace === 'staging' && t.service === 'messages')?.inFlight).toBeLessThanOrEqual(5);

    // The services really served the calls: their own metrics count them.
    const served = await (await fetch(`${messages.http}/metrics`)).text();
    expect(metricSum(served, 'grpc_server_handled_total', { grpc_method: 'SendMessage', grpc_code: 'OK' })).toBe(second.calls.dev?.messages?.SendMessage?.OK);

    // Staging's messages goes away, production's appears (at an address nothing answers: Unavailable).
    const dead = await deadAddress();
    await writeServices([
      { namespace: 'dev', service: 'messages', grpc: messages.grpc },
      { namespace: 'dev', service: 'notifications', grpc: notifications.grpc },
      { namespace: 'staging', service: 'notifications', grpc: notifications.grpc },
      { namespace: 'production', service: 'messages', grpc: dead },
    ]);
    await sleep(1_500);
    const afterChange = load.stats();
    expect(afterChange.targets.map((t) => `${t.namespace}/${t.service}`).sort()).toEqual(['dev/messages', 'dev/notifications', 'production/messages', 'staging/notifications']);
    expect(Object.keys(byCode(afterChange, 'production', 'messages'))).toEqual(['Unavailable']);
    expect(total(afterChange, 'production', 'messages')).toBeGreaterThan(10);
    const hungBefore = total(afterChange, 'staging', 'messages');
    await sleep(700);
    expect(total(load.stats(), 'staging', 'messages')).toBe(hungBefore);

    // A services file caught mid-write keeps the current targets.
    await writeFile(servicesFile(), '[{"namespace": "dev", "serv');
    await sleep(500);
    expect(load.stats().targets).toHaveLength(4);
    expect(logged.join('')).toMatch(/services file is not JSON; keeping the current targets/);
    expect(logged.join('')).toMatch(/"namespace":"staging","service":"messages","msg":"load: service gone; no more traffic to it"/);

    const stopping = Date.now();
    await load.stop();
    expect(Date.now() - stopping).toBeLessThan(2_000);
    const stopped = load.stats();
    expect(stopped.inFlight).toBe(0);
    expect(stopped.targets).toEqual([]);
    await sleep(300);
    expect(load.stats().calls).toEqual(stopped.calls);
    load = undefined;
  });

  test('refuses a plan it cannot send, naming the service and method', () => {
    const bad = (calls: LoadPlan['calls']) => ({ messages: { ...(plans.messages as LoadPlan), calls } });
    const start = (p: Record<string, LoadPlan>) => startLoad({ servicesFile: servicesFile(), calls: p, ratePerSecond: 1, protoRoot: sample.path, log: pino({ level: 'silent' }) });
    expect(() => start(bad([{ method: 'DeleteEverything', weight: 1, request: {} }]))).toThrow('load plan of messages: sample.messages.v1.Messages has no method DeleteEverything');
    expect(() => start(bad([{ method: 'ListMessages', weight: 1, request: { user_id: 'ada' } }]))).toThrow('the request of ListMessages has no field user_id (its fields: userId, limit)');
    expect(() => start({ messages: { ...(plans.messages as LoadPlan), proto: 'services/messages/proto/missing.proto' } })).toThrow(/cannot load .*missing\.proto/);
  });
});
