/**
 * What the summary report needs from the run's branch, read at the run's end: the files each
 * service changed (git diff from the merge base), the gRPC methods its .proto changes add or
 * change, the migrations it adds, its coverage and performance files, the observability files.
 * Committed content is read from git objects (cat-file: no filters, no textconv, no symlinks);
 * files commands leave untracked (coverage) are read from the worktree without following symlinks.
 */
import { basename, posix } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import type { ServiceSettings } from '../../config/settings';
import { LIMITS, type Workspace } from '../../workflows/state';
import type { ChangedFile, GrpcChange, MigrationFileFact, ReportFacts, ServiceFacts } from '../../workflows/report';
import { SERVICES_BLOCK } from '../agents/scaffolds';
import { readMigrations, type MigrationSource } from '../migrations/files';
import { kindOf, readWorktreeFile } from '../sandbox/worktreeFs';
import { COVERAGE_FILES, CoverageUnreadable } from './coverage';
import { verifiedGitDirHint, worktreeGit } from './git';
import { grpcChanges, rpcSignatures } from './protoDiff';

export interface GatherInput {
  workspace: Workspace;
  baseBranch: string;
  /** Every configured service: a service the plan left out but the branch changed is reported too. */
  services: ServiceSettings[];
  /** The run's services (the plan's). */
  runServices: string[];
  /** The production environment, whose manifests say whether a service exports traces. */
  production: string;
  sandbox: 'bubblewrap' | 'none';
}

const MAX_TEXT = 1024 * 1024;
const MAX_COVERAGE = 32 * 1024 * 1024;
/** Where a service's `perf` command leaves its result (relative to the service's folder). */
export const PERFORMANCE_FILE = 'perf/result.json';
const performanceFileSchema = z.object({ regressionPercent: z.number().finite(), baseline: z.string().max(200).optional() });
const TRACES_VARIABLES = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'];

const CHANGE: Record<string, ChangedFile['change']> = { A: 'added', C: 'added', M: 'modified', T: 'modified', D: 'deleted', R: 'renamed' };

interface Change extends ChangedFile {
  /** The path on the base, for a renamed file. */
  from?: string;
}

/** `git diff --name-status -z` output: status, path, and a second path for renames and copies. */
export function parseNameStatus(output: string): Change[] {
  const tokens = output.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i < tokens.length; ) {
    const status = tokens[i++] ?? '';
    if (status === '') continue;
    const letter = status.charAt(0);
    const first = tokens[i++] ?? '';
    if (letter === 'R' || letter === 'C') {
      const second = tokens[i++] ?? '';
      changes.push({ path: second, change: CHANGE[letter] ?? 'modified', ...(letter === 'R' ? { from: first } : {}) });
    } else changes.push({ path: first, change: CHANGE[letter] ?? 'modified' });
  }
  return changes;
}

const isDoc = (path: string) => /\.(md|mdx|markdown|rst|adoc)$/i.test(path) || path.startsWith('docs/') || path.includes('/docs/');
const under = (folder: string, path: string) => path.startsWith(`${folder.replace(/\/+$/, '')}/`);
const plain = ({ path, change }: Change): ChangedFile => ({ path, change });

export async function gatherReportFacts(input: GatherInput): Promise<ReportFacts> {
  const { workspace } = input;
  const git = worktreeGit({ gitDir: workspace.gitDir ?? (await verifiedGitDirHint(workspace.path)), worktree: workspace.path });
  const problems: string[] = [];
  const head = (await git.raw(['rev-parse', 'HEAD'])).trim();
  let base = head;
  try {
    base = (await git.raw(['merge-base', input.baseBranch, head])).trim();
  } catch (err) {
    problems.push(`no merge base with ${input.baseBranch}: ${(err as Error).message.split('\n')[0]}`);
  }
  /** A committed file's text, or undefined when that commit has no such file. */
  const blob = async (commit: string, path: string, max = MAX_TEXT): Promise<string | undefined> => {
    const spec = `${commit}:${path}`;
    const size = await git.raw(['cat-file', '-s', spec]).then((s) => Number(s.trim()), () => undefined);
    if (size === undefined) return undefined;
    if (size > max) throw new Error(`${path} is ${size} bytes, over the ${max}-byte limit`);
    return git.raw(['cat-file', 'blob', spec]);
  };
  const changes = parseNameStatus(await git.raw(['diff', '--name-status', '-z', '-M', '--no-ext-diff', '--no-textconv', base, head]));

  const events = await plannedEvents(await blob(head, `${workspace.specDir}/plan.md`).catch(() => undefined), problems);
  const services: ServiceFacts[] = [];
  for (const service of input.services) {
    const mine = changes.filter((c) => under(service.path, c.path) || (c.from !== undefined && under(service.path, c.from)));
    if (mine.length === 0 && !input.runServices.includes(service.name)) continue;
    const serviceProblems: string[] = [];
    const grpc = await protoChanges(mine, base, head, blob, serviceProblems);
    services.push({
      service: service.name,
      files: mine.slice(0, LIMITS.reportFiles).map(plain),
      filesTotal: mine.length,
      protoFiles: mine.filter((c) => c.path.endsWith('.proto')).map((c) => c.path).slice(0, LIMITS.reportFiles),
      grpc: grpc.slice(0, LIMITS.reportMethods),
      grpcTotal: grpc.length,
      events: events.get(service.name) ?? { produces: [], consumes: [] },
      migrations: await migrationsAdded(service, mine, head, git, blob, serviceProblems),
      ...(await coverageOf(service, workspace, serviceProblems)),
      ...(await performanceOf(service, workspace, serviceProblems)),
      ...(await tracingOf(service, await blob(head, `${workspace.specDir}/deploy/${input.production}/${service.name}.yaml`).catch(() => undefined))),
      problems: serviceProblems,
    });
  }

  const others = changes.filter((c) => !input.services.some((s) => under(s.path, c.path)));
  const docs = changes.filter((c) => isDoc(c.path) && c.path !== `${workspace.specDir}/report.md` && c.change !== 'deleted');
  return {
    baseCommit: base,
    headCommit: head,
    services,
    otherFiles: others.slice(0, LIMITS.reportFiles).map(plain),
    otherFilesTotal: others.length,
    docs: docs.slice(0, LIMITS.reportFiles).map(plain),
    docsTotal: docs.length,
    observability: await observabilityFiles(workspace, head, blob, problems),
    sandbox: input.sandbox,
    problems,
  };
}

type Blob = (commit: string, path: string, max?: number) => Promise<string | undefined>;

/** Methods compared over all of the service's changed .proto files at once, so a method that moved between files is no change. */
async function protoChanges(changes: Change[], base: string, head: string, blob: Blob, problems: string[]): Promise<GrpcChange[]> {
  const before = new Map<string, string>();
  const after = new Map<string, string>();
  for (const change of changes) {
    const old = change.from ?? change.path;
    if (!change.path.endsWith('.proto') && !old.endsWith('.proto')) continue;
    try {
      const was = change.change === 'added' ? undefined : await blob(base, old);
      const is = change.change === 'deleted' ? undefined : await blob(head, change.path);
      if (was !== undefined) rpcSignatures(was, `${old} on the base`).forEach((v, k) => before.set(k, v));
      if (is !== undefined) rpcSignatures(is, change.path).forEach((v, k) => after.set(k, v));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return grpcChanges(before, after);
}

/** Optional `produces` / `consumes` lists of event types in the plan's slipway-services block. */
async function plannedEvents(plan: string | undefined, problems: string[]): Promise<Map<string, { produces: string[]; consumes: string[] }>> {
  const found = new Map<string, { produces: string[]; consumes: string[] }>();
  const block = plan === undefined ? undefined : SERVICES_BLOCK.exec(plan)?.[1];
  if (block === undefined) return found;
  const names = z.array(z.string().min(1).max(200)).max(LIMITS.reportMethods).catch([]);
  const entries = z.array(z.object({ name: z.string(), produces: z.unknown().optional(), consumes: z.unknown().optional() })).safeParse((() => {
    try {
      return parse(block) as unknown;
    } catch {
      return undefined;
    }
  })());
  if (!entries.success) {
    problems.push('the plan\'s slipway-services block could not be read for events');
    return found;
  }
  for (const entry of entries.data) found.set(entry.name, { produces: names.parse(entry.produces ?? []), consumes: names.parse(entry.consumes ?? []) });
  return found;
}

/** The migrations among the service's changed files, read from the branch's commit with the config's layout. */
async function migrationsAdded(service: ServiceSettings, changes: Change[], head: string, git: ReturnType<typeof worktreeGit>, blob: Blob, problems: string[]): Promise<MigrationFileFact[]> {
  const database = service.database;
  if (database === undefined) return [];
  const dir = posix.join(service.path, database.migrationsDir);
  const changed = new Set(changes.filter((c) => c.change !== 'deleted' && under(dir, c.path)).map((c) => c.path));
  if (changed.size === 0) return [];
  const source: MigrationSource = {
    list: async () => (await git.raw(['ls-tree', '--name-only', '-z', head, '--', `${dir}/`])).split('\0').filter(Boolean).map((p) => basename(p)),
    read: async (name) => (await blob(head, `${dir}/${name}`, 4 * MAX_TEXT)) ?? '',
  };
  try {
    return (await readMigrations(dir, database.layout, source))
      .filter((m) => changed.has(m.upPath) || (m.downPath !== undefined && changed.has(m.downPath)))
      .map((m) => ({ version: m.version, name: m.name, up: m.upPath, ...(m.downPath !== undefined ? { down: m.downPath } : {}), transactional: m.transactional }));
  } catch (err) {
    problems.push(`migrations in ${dir}: ${(err as Error).message}`);
    return [];
  }
}

/** The first coverage file the service's test command left, in COVERAGE_FILES order. */
async function coverageOf(service: ServiceSettings, workspace: Workspace, problems: string[]): Promise<Pick<ServiceFacts, 'coverage'>> {
  for (const candidate of COVERAGE_FILES) {
    const path = posix.join(service.path, candidate.path);
    if ((await kindOf(workspace.path, path).catch(() => 'missing')) !== 'file') continue;
    try {
      const percent = candidate.parse(await readWorktreeFile(workspace.path, path, MAX_COVERAGE));
      if (percent !== undefined) return { coverage: { percent, format: candidate.format, source: path } };
    } catch (err) {
      problems.push(`${path}: ${err instanceof CoverageUnreadable ? err.message : (err as Error).message}`);
    }
  }
  return {};
}

async function performanceOf(service: ServiceSettings, workspace: Workspace, problems: string[]): Promise<Pick<ServiceFacts, 'performance'>> {
  const path = posix.join(service.path, PERFORMANCE_FILE);
  if ((await kindOf(workspace.path, path).catch(() => 'missing')) !== 'file') return {};
  try {
    const result = performanceFileSchema.parse(JSON.parse(await readWorktreeFile(workspace.path, path, MAX_TEXT)));
    return { performance: { regressionPercent: result.regressionPercent, ...(result.baseline !== undefined ? { baseline: result.baseline } : {}), source: path } };
  } catch (err) {
    problems.push(`${path} is not {"regressionPercent": number, "baseline"?: string}: ${(err as Error).message.split('\n')[0]}`);
    return {};
  }
}

/** The OTLP endpoint the production manifest gives the service's containers (env or ConfigMap). */
async function tracingOf(service: ServiceSettings, manifest: string | undefined): Promise<Pick<ServiceFacts, 'tracing'>> {
  if (manifest === undefined) return {};
  const source = `production manifest of ${service.name}`;
  for (const document of parseAllDocuments(manifest)) {
    const object = document.toJS() as { kind?: string; data?: Record<string, unknown>; spec?: { template?: { spec?: { containers?: { env?: { name?: string; value?: unknown }[] }[] } } } } | null;
    if (object === null || typeof object !== 'object') continue;
    for (const variable of TRACES_VARIABLES) {
      const fromConfigMap = object.kind === 'ConfigMap' ? object.data?.[variable] : undefined;
      const fromEnv = object.kind === 'Deployment' ? object.spec?.template?.spec?.containers?.flatMap((c) => c.env ?? []).find((e) => e.name === variable)?.value : undefined;
      const endpoint = fromConfigMap ?? fromEnv;
      if (typeof endpoint === 'string' && endpoint !== '') return { tracing: { endpoint: endpoint.slice(0, 300), source } };
    }
  }
  return {};
}

async function observabilityFiles(workspace: Workspace, head: string, blob: Blob, problems: string[]): Promise<ReportFacts['observability']> {
  const folder = `${workspace.specDir}/observability`;
  const found: ReportFacts['observability'] = { alerts: [], alertsTotal: 0 };
  try {
    const dashboard = await blob(head, `${folder}/dashboard.json`, 4 * MAX_TEXT);
    if (dashboard !== undefined) {
      const parsed = JSON.parse(dashboard) as { uid?: unknown; title?: unknown };
      found.dashboard = {
        path: `${folder}/dashboard.json`,
        ...(typeof parsed.uid === 'string' ? { uid: parsed.uid.slice(0, 100) } : {}),
        ...(typeof parsed.title === 'string' ? { title: parsed.title.slice(0, 200) } : {}),
      };
    }
  } catch (err) {
    problems.push(`${folder}/dashboard.json: ${(err as Error).message}`);
  }
  try {
    const alerts = await blob(head, `${folder}/alerts.yaml`, 4 * MAX_TEXT);
    if (alerts !== undefined) {
      const parsed = parse(alerts) as { groups?: { rules?: { alert?: unknown }[] }[] } | null;
      const names = (parsed?.groups ?? []).flatMap((g) => (g.rules ?? []).map((r) => r.alert)).filter((n): n is string => typeof n === 'string');
      found.alertsPath = `${folder}/alerts.yaml`;
      found.alerts = names.slice(0, LIMITS.reportAlerts).map((n) => n.slice(0, 200));
      found.alertsTotal = names.length;
    }
  } catch (err) {
    problems.push(`${folder}/alerts.yaml: ${(err as Error).message}`);
  }
  return found;
}
