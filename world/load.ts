/**
 * The load generator: a declared stand-in for real traffic. It sends steady gRPC calls, described
 * by each service's load.json, to every service in every namespace the local kubelet's service
 * proxy lists, so a soak has requests to judge. Errors are counted, never fatal.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Client, credentials, Metadata, status, type MethodDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { z } from 'zod';

export const loadCallSchema = z.object({
  /** The RPC's name in the proto, e.g. SendMessage. */
  method: z.string().min(1),
  /** Share of the service's calls, relative to its other calls. */
  weight: z.number().int().positive().default(1),
  /**
   * The request in proto3 JSON field names (camelCase). In strings, {{seq}} is the call's number,
   * {{seq % N}} its remainder and {{(seq + K) % N}} a shifted remainder (e.g. a second user id).
   */
  request: z.record(z.string(), z.unknown()),
});

/** A service's load.json. */
export const loadPlanSchema = z.object({
  /** Fully qualified gRPC service, e.g. sample.messages.v1.Messages. */
  service: z.string().min(1),
  /** The proto file that defines it; relative to load.json, or to protoRoot once read by readLoadPlans. */
  proto: z.string().min(1),
  calls: z.array(loadCallSchema).min(1),
});
export type LoadPlan = z.output<typeof loadPlanSchema>;

/** What the local kubelet's service proxy writes: one entry per Service in each namespace. */
export const servicesFileSchema = z.array(
  z.object({
    namespace: z.string().min(1),
    service: z.string().min(1),
    ports: z.record(z.string(), z.string()),
  }),
);

/** Reads `services/<name>/load.json` of a repository: plans by service name, proto paths relative to the repository. */
export async function readLoadPlans(repoPath: string): Promise<Record<string, LoadPlan>> {
  const plans: Record<string, LoadPlan> = {};
  const servicesDir = join(repoPath, 'services');
  for (const name of (await readdir(servicesDir)).sort()) {
    const file = join(servicesDir, name, 'load.json');
    if (!existsSync(file)) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file} is not JSON: ${(err as Error).message}`);
    }
    const parsed = loadPlanSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    plans[name] = { ...parsed.data, proto: join('services', name, parsed.data.proto) };
  }
  return plans;
}

export interface LoadOptions {
  /** JSON written by the service proxy ([{ namespace, service, ports: { grpc: "host:port" } }]); re-read when it changes. */
  servicesFile: string;
  /** Plans by Kubernetes service name; services without one get no traffic. */
  calls: Record<string, LoadPlan>;
  /** Calls per second to each service in each namespace. */
  ratePerSecond: number;
  /** The directory the plans' proto paths are relative to (the repository). */
  protoRoot: string;
  log: Pick<Logger, 'info' | 'warn'>;
  /** Each call's deadline (default 2 s): a hung service costs a bounded number of open calls. */
  deadlineMs?: number;
  /** Open calls per target beyond which new ones are shed (default: two deadlines' worth at the rate). */
  maxInFlight?: number;
  /** How often the services file is read (default 500 ms). */
  pollMs?: number;
}

export interface LoadStats {
  /** namespace → service → method → gRPC code (as go-grpc-prometheus spells it) → completed calls. */
  calls: Record<string, Record<string, Record<string, Record<string, number>>>>;
  /** namespace → service → calls not sent because the target already had maxInFlight open. */
  shed: Record<string, Record<string, number>>;
  /** Calls open now, over all targets. */
  inFlight: number;
  /** Where traffic goes now, with the calls open to each (at most maxInFlight). */
  targets: { namespace: string; service: string; address: string; inFlight: number }[];
}

export interface LoadGenerator {
  /** Stops sending, waits for open calls to finish (each within its deadline) and closes the channels. */
  stop(): Promise<void>;
  stats(): LoadStats;
}

/** Code names as Go's codes.Code.String() spells them, the same as the services' grpc_code labels. */
const CODE_NAMES: Record<number, string> = {
  [status.OK]: 'OK',
  [status.CANCELLED]: 'Canceled',
  [status.UNKNOWN]: 'Unknown',
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [status.NOT_FOUND]: 'NotFound',
  [status.ALREADY_EXISTS]: 'AlreadyExists',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [status.ABORTED]: 'Aborted',
  [status.OUT_OF_RANGE]: 'OutOfRange',
  [status.UNIMPLEMENTED]: 'Unimplemented',
  [status.INTERNAL]: 'Internal',
  [status.UNAVAILABLE]: 'Unavailable',
  [status.DATA_LOSS]: 'DataLoss',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

/** camelCase fields, as the sample services load their protos. */
const LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

/** Reconnect quickly after a pod restarts (grpc-js otherwise backs off up to two minutes). */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2_000 };

const TICK_MS = 25;

interface CompiledCall {
  method: string;
  weight: number;
  request: Record<string, unknown>;
  definition: MethodDefinition<object, object>;
  /** Smooth weighted round-robin state: a steady, predictable mix rather than a random one. */
  current: number;
}

interface Target {
  namespace: string;
  service: string;
  address: string;
  client: Client;
  calls: CompiledCall[];
  seq: number;
  credit: number;
  inFlight: number;
}

export function startLoad(options: LoadOptions): LoadGenerator {
  if (!(options.ratePerSecond > 0)) throw new Error(`load: ratePerSecond must be above 0, not ${options.ratePerSecond}`);
  const deadlineMs = options.deadlineMs ?? 2_000;
  const maxInFlight = options.maxInFlight ?? Math.max(10, Math.ceil((2 * options.ratePerSecond * deadlineMs) / 1000));
  const plans = compilePlans(options.calls, options.protoRoot);
  const { log } = options;

  const counts: LoadStats['calls'] = {};
  const shed: LoadStats['shed'] = {};
  const targets = new Map<string, Target>();
  /** Call numbers carried across a target's address changes, so {{seq}} keeps counting up. */
  const sequences = new Map<string, number>();
  let inFlight = 0;
  let lastFile: string | undefined;
  let reading = false;
  let stopped = false;
  let lastTick = performance.now();

  const count = (target: Target, method: string, code: number) => {
    const byMethod = ((counts[target.namespace] ??= {})[target.service] ??= {});
    const byCode = (byMethod[method] ??= {});
    const name = CODE_NAMES[code] ?? 'Unknown';
    byCode[name] = (byCode[name] ?? 0) + 1;
  };

  const send = (target: Target) => {
    if (target.inFlight >= maxInFlight) {
      const byService = (shed[target.namespace] ??= {});
      byService[target.service] = (byService[target.service] ?? 0) + 1;
      return;
    }
    const call = pick(target.calls);
    const seq = target.seq++;
    target.inFlight++;
    inFlight++;
    const done = (code: number) => {
      target.inFlight--;
      inFlight--;
      count(target, call.method, code);
    };
    try {
      target.client.makeUnaryRequest(
        call.definition.path,
        call.definition.requestSerialize,
        call.definition.responseDeserialize,
        fill(call.request, seq),
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err) => done(err ? err.code : status.OK),
      );
    } catch {
      // A closed channel throws instead of calling back; the call never left.
      done(status.UNAVAILABLE);
    }
  };

  const tick = () => {
    const now = performance.now();
    const elapsed = now - lastTick;
    lastTick = now;
    for (const target of targets.values()) {
      // At most half a second's worth after a stall (a busy event loop), not a burst of everything missed.
      target.credit = Math.min(target.credit + (options.ratePerSecond * elapsed) / 1000, Math.max(1, options.ratePerSecond / 2));
      while (target.credit >= 1) {
        target.credit -= 1;
        send(target);
      }
    }
  };

  const applyServices = (entries: z.output<typeof servicesFileSchema>) => {
    const wanted = new Map<string, { namespace: string; service: string; address: string }>();
    for (const entry of entries) {
      const address = entry.ports.grpc;
      if (address === undefined || plans[entry.service] === undefined) continue;
      wanted.set(`${entry.namespace}/${entry.service}`, { namespace: entry.namespace, service: entry.service, address });
    }
    for (const [key, target] of targets) {
      const next = wanted.get(key);
      if (next?.address === target.address) continue;
      target.client.close();
      sequences.set(key, target.seq);
      targets.delete(key);
      if (!next) log.info({ namespace: target.namespace, service: target.service }, 'load: service gone; no more traffic to it');
    }
    for (const [key, next] of wanted) {
      if (targets.has(key)) continue;
      const calls = (plans[next.service] ?? []).map((c) => ({ ...c, current: 0 }));
      targets.set(key, { ...next, client: new Client(next.address, credentials.createInsecure(), CHANNEL_OPTIONS), calls, seq: sequences.get(key) ?? 0, credit: 0, inFlight: 0 });
      log.info({ namespace: next.namespace, service: next.service, address: next.address, ratePerSecond: options.ratePerSecond }, 'load: sending traffic');
    }
  };

  const readServices = async () => {
    if (reading || stopped) return;
    reading = true;
    try {
      const text = await readFile(options.servicesFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '[]';
        throw err;
      });
      if (text === lastFile || stopped) return;
      lastFile = text;
      let parsed: ReturnType<typeof servicesFileSchema.safeParse>;
      try {
        parsed = servicesFileSchema.safeParse(JSON.parse(text));
      } catch (err) {
        // Possibly caught mid-write: keep the current targets and look again next time.
        log.warn({ file: options.servicesFile, error: (err as Error).message }, 'load: services file is not JSON; keeping the current targets');
        return;
      }
      if (!parsed.success) {
        log.warn({ file: options.servicesFile, error: parsed.error.issues[0]?.message }, 'load: services file does not match its schema; keeping the current targets');
        return;
      }
      applyServices(parsed.data);
    } catch (err) {
      log.warn({ file: options.servicesFile, error: (err as Error).message }, 'load: could not read the services file');
    } finally {
      reading = false;
    }
  };

  void readServices();
  const poller = setInterval(() => void readServices(), options.pollMs ?? 500);
  const ticker = setInterval(tick, TICK_MS);

  return {
    async stop() {
      stopped = true;
      clearInterval(poller);
      clearInterval(ticker);
      const until = Date.now() + deadlineMs + 1_000;
      while (inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      for (const target of targets.values()) target.client.close();
      targets.clear();
    },
    stats() {
      return {
        calls: structuredClone(counts),
        shed: structuredClone(shed),
        inFlight,
        targets: [...targets.values()].map((t) => ({ namespace: t.namespace, service: t.service, address: t.address, inFlight: t.inFlight })),
      };
    },
  };
}

/** The part of a request type's DescriptorProto (typed `object` by proto-loader) that names its fields. */
const descriptorSchema = z.object({ field: z.array(z.object({ name: z.string() })).default([]) });

/** Loads each plan's proto and checks its calls: a method that does not exist, streams, or names an unknown field fails here, by name. */
function compilePlans(plans: Record<string, LoadPlan>, protoRoot: string): Record<string, Omit<CompiledCall, 'current'>[]> {
  const compiled: Record<string, Omit<CompiledCall, 'current'>[]> = {};
  for (const [name, plan] of Object.entries(plans)) {
    const protoPath = join(protoRoot, plan.proto);
    let definitions;
    try {
      definitions = loadSync(protoPath, { ...LOADER_OPTIONS, includeDirs: [dirname(protoPath), protoRoot] });
    } catch (err) {
      throw new Error(`load plan of ${name}: cannot load ${protoPath}: ${(err as Error).message}`);
    }
    const service = definitions[plan.service];
    // Message and enum types carry a `format`; services are plain maps of methods.
    if (service === undefined || 'format' in service) throw new Error(`load plan of ${name}: ${protoPath} defines no service ${plan.service}`);
    compiled[name] = plan.calls.map((call) => {
      const definition = service[call.method];
      if (definition === undefined) throw new Error(`load plan of ${name}: ${plan.service} has no method ${call.method}`);
      if (definition.requestStream || definition.responseStream) throw new Error(`load plan of ${name}: ${call.method} streams; the load generator sends unary calls only`);
      // Encoding ignores unknown fields, so a snake_case key would silently send an empty value.
      const fields = descriptorSchema.parse(definition.requestType.type).field.map((f) => f.name);
      const unknown = Object.keys(call.request).filter((key) => !fields.includes(key));
      if (unknown.length > 0) throw new Error(`load plan of ${name}: the request of ${call.method} has no field ${unknown.join(', ')} (its fields: ${fields.join(', ')})`);
      return { method: call.method, weight: call.weight, request: call.request, definition };
    });
  }
  return compiled;
}

/** Smooth weighted round-robin (as nginx balances upstreams). */
function pick(calls: CompiledCall[]): CompiledCall {
  let total = 0;
  let best = calls[0] as CompiledCall;
  for (const call of calls) {
    call.current += call.weight;
    total += call.weight;
    if (call.current > best.current) best = call;
  }
  best.current -= total;
  return best;
}

const PLACEHOLDER = /\{\{\s*(?:seq|\(\s*seq\s*\+\s*(\d+)\s*\))\s*(?:%\s*(\d+)\s*)?\}\}/g;

/** The request with {{seq}}, {{seq % N}} and {{(seq + K) % N}} filled in every string. */
export function fill<T>(value: T, seq: number): T {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, shift: string | undefined, modulo: string | undefined) => {
      const n = seq + Number(shift ?? 0);
      return String(modulo && Number(modulo) > 0 ? n % Number(modulo) : n);
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => fill(v, seq)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, seq)])) as T;
  return value;
}
