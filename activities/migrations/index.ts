import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { ServiceConfig, SlipwayConfig } from '../../config/schema';
import type { TokenUsage } from '../../workflows/state';
import { createAgentRunner, type Workspace } from '../agents';
import { migrationWriter, reviewerComments } from '../agents/roles';
import { heartbeatIfActivity } from '../heartbeat';
import { verifiedGitDirHint, worktreeGit } from '../repo/git';
import { commitPaths } from '../repo/workspace';
import { fileNameOf, readMigrations, type MigrationFile } from './files';
import { lintMigrations, type LintFinding } from './lint';
import { applyPending, connect, dryRun, MigrationFailed, revert } from './runner';

export interface MigrationReview {
  files: string[];
  findings: LintFinding[];
  /** Lint findings and dry-run output shown at the migration-review gate. */
  summary: string;
  /** An error-level finding: the gate needs a person's explicit approval whatever config says. */
  blocking: boolean;
}

export interface MigrationTarget {
  runId: string;
  service: string;
  environment: string;
}

export function createMigrationActivities(deps: { config: SlipwayConfig; logger: Logger }) {
  const { config } = deps;
  const agent = createAgentRunner(config);
  const serviceOf = (name: string): ServiceConfig & { database: NonNullable<ServiceConfig['database']> } => {
    const service = config.services.find((s) => s.name === name);
    if (service?.database === undefined) throw ApplicationFailure.nonRetryable(`service ${name} has no database section in config`, 'NoDatabase');
    return service as ServiceConfig & { database: NonNullable<ServiceConfig['database']> };
  };
  /** The URL comes from the environment at call time: never logged, never in workflow history. */
  const databaseUrl = (service: ReturnType<typeof serviceOf>, environment: string): string => {
    const variable = service.database.urlEnvByEnvironment[environment] ?? service.database.urlEnv;
    const url = process.env[variable];
    if (!url) throw ApplicationFailure.nonRetryable(`${variable} is not set: the database URL of ${service.name} in ${environment}`, 'DatabaseNotConfigured');
    return url;
  };
  const migrationsDir = (service: ReturnType<typeof serviceOf>, workspace: Workspace) => join(workspace.path, service.path, service.database.migrationsDir);
  const withDatabase = async <T>(service: ReturnType<typeof serviceOf>, environment: string, work: (client: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> => {
    let client;
    try {
      client = await connect(databaseUrl(service, environment));
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      // Connection problems are worth a retry; the message never includes the URL.
      throw ApplicationFailure.retryable(`cannot reach the database of ${service.name} in ${environment}: ${(err as Error).message}`, 'DatabaseUnavailable');
    }
    try {
      return await work(client);
    } catch (err) {
      if (err instanceof MigrationFailed) {
        throw ApplicationFailure.nonRetryable(`migration ${relative(process.cwd(), err.file) || err.file} failed in ${environment}: ${err.sqlError}`, 'MigrationFailed');
      }
      throw err;
    } finally {
      await client.end();
    }
  };

  /** Migration files this feature branch adds (compared with the base branch). */
  const newOnBranch = async (service: ReturnType<typeof serviceOf>, workspace: Workspace): Promise<MigrationFile[]> => {
    const dir = migrationsDir(service, workspace);
    // Slipway's git on the worktree: the admin folder named, no hooks or fsmonitor (a rewritten .git must not steer it).
    const git = worktreeGit({ gitDir: workspace.gitDir ?? (await verifiedGitDirHint(workspace.path)), worktree: workspace.path });
    const changed = await git.raw(['diff', '--name-only', '--no-ext-diff', `${config.repository.baseBranch}...HEAD`, '--', relative(workspace.path, dir)]);
    const added = new Set(changed.split('\n').filter(Boolean).map((p) => basename(p)));
    const uncommitted = await git.raw(['ls-files', '--others', '--exclude-standard', '--', relative(workspace.path, dir)]);
    uncommitted.split('\n').filter(Boolean).forEach((p) => added.add(basename(p)));
    return (await readMigrations(dir, service.database.layout)).filter((m) => added.has(basename(m.upPath)));
  };

  return {
    /**
     * Creates the feature's migrations when the branch has none (from a template when no LLM is
     * configured), lints them with squawk, and rehearses them on each environment's database in a
     * transaction that is rolled back. The summary is what the migration-review gate shows.
     */
    async prepareMigrations(input: { runId: string; service: string; workspace: Workspace; comments: string[]; feature?: string; tokensUsed?: number }): Promise<MigrationReview & { usage?: TokenUsage }> {
      const service = serviceOf(input.service);
      let files = await newOnBranch(service, input.workspace);
      let usage: TokenUsage | undefined;
      if (files.length === 0 || input.comments.length > 0) {
        if (config.llm !== undefined) {
          const dir = relative(input.workspace.path, migrationsDir(service, input.workspace));
          const outcome = await agent(
            migrationWriter(input.workspace.path, { name: service.name, dir, up: service.database.layout.up, down: service.database.layout.down }, input.workspace.specDir),
            `Write the migrations ${service.name} needs for ${input.workspace.branch}.${reviewerComments('migrations', input.comments)}`,
            input,
            [],
            `migrations(${service.name}): ${input.workspace.branch}`,
          );
          usage = outcome.usage;
        } else {
          await writeTemplate(service, input, files[0]);
        }
        files = await newOnBranch(service, input.workspace);
      }
      const findings = await lintMigrations(files.flatMap((f) => [f.upPath, ...(f.downPath ? [f.downPath] : [])]), config.migrations.blockingRules);
      const environments = [...new Set(config.environments.map((e) => e.name))];
      const rehearsals: string[] = [];
      for (const environment of environments) {
        heartbeatIfActivity(environment);
        const all = await readMigrations(migrationsDir(service, input.workspace), service.database.layout);
        const plan = await withDatabase(service, environment, (client) => dryRun(client, all));
        const applied = plan.wouldApply.map((m) => `${basename(m.file)} (${m.ms} ms)`).join(', ') || 'nothing pending';
        const skipped = plan.skipped.map((m) => `${basename(m.file)}: ${m.why}`).join('; ');
        rehearsals.push(`dry run on ${environment}: would apply ${applied}${skipped ? `; skipped ${skipped}` : ''}${plan.error ? `; ERROR ${plan.error}` : ''}`);
        if (plan.error) {
          throw ApplicationFailure.nonRetryable(`the dry run of ${service.name}'s migrations on ${environment} failed: ${plan.error}`, 'MigrationDryRunFailed');
        }
      }
      const blocking = findings.some((f) => f.blocking);
      const lint = findings.length === 0 ? 'squawk: no findings' : `squawk: ${findings.length} finding(s)\n${findings.map((f) => `  - ${f.blocking ? 'BLOCKING ' : ''}${f.level} ${f.rule} at ${basename(f.file)}:${f.line}: ${f.message}`).join('\n')}`;
      const paths = files.flatMap((f) => [f.upPath, ...(f.downPath ? [f.downPath] : [])]).map((p) => relative(input.workspace.path, p));
      return {
        files: paths,
        findings,
        blocking,
        ...(usage ? { usage } : {}),
        summary: [`${files.length} new migration(s): ${files.map((f) => basename(f.upPath)).join(', ')}`, lint, ...rehearsals].join('\n'),
      };
    },

    /** Applies the pending migrations in this environment; idempotent, returns every version this run applied. */
    async applyMigrations(input: MigrationTarget & { workspace: Workspace }): Promise<{ versions: string[] }> {
      const service = serviceOf(input.service);
      const files = await readMigrations(migrationsDir(service, input.workspace), service.database.layout);
      const versions = await withDatabase(service, input.environment, (client) => applyPending(client, files, input.runId));
      deps.logger.info({ runId: input.runId, service: input.service, environment: input.environment, versions }, 'migrations applied');
      return { versions };
    },

    /** The saga's compensation: reverts exactly the versions this run applied, newest first. */
    async revertMigrations(input: MigrationTarget & { versions: string[]; workspace: Workspace }): Promise<void> {
      const service = serviceOf(input.service);
      const files = await readMigrations(migrationsDir(service, input.workspace), service.database.layout);
      const reverted = await withDatabase(service, input.environment, (client) => revert(client, files, input.runId, input.versions));
      deps.logger.info({ runId: input.runId, service: input.service, environment: input.environment, reverted }, 'migrations reverted');
    },
  };

  /** A reversible pair for a person to fill in; review comments are kept in it. */
  async function writeTemplate(service: ReturnType<typeof serviceOf>, input: { runId: string; workspace: Workspace; comments: string[]; feature?: string }, existing?: MigrationFile): Promise<void> {
    const dir = migrationsDir(service, input.workspace);
    await mkdir(dir, { recursive: true });
    const version = existing?.version ?? new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    const name = existing?.name ?? input.workspace.branch.replace(/^\d+-/, '').replace(/-/g, '_');
    const review = input.comments.length > 0 ? `-- Review comments:\n${input.comments.map((c) => `--   ${c.replace(/\n/g, ' ')}`).join('\n')}\n` : '';
    const up = `-- ${input.feature ?? input.workspace.branch}: schema change for ${service.name}\n-- Template written by Slipway (no LLM configured): replace this comment with the forward migration.\n${review}`;
    const down = `-- Reverts ${version}_${name}: undo exactly what the up migration does.\n`;
    const upPath = join(dir, fileNameOf(service.database.layout.up, version, name));
    const downPath = join(dir, fileNameOf(service.database.layout.down, version, name));
    await writeFile(upPath, existing ? `${existing.up.replace(/-- Review comments:[\s\S]*$/, '')}${review}` : up);
    if (!existing?.downPath) await writeFile(downPath, down);
    await commitPaths(input.workspace, [relative(input.workspace.path, upPath), relative(input.workspace.path, downPath)], `migrations: ${service.name} ${version}_${name}\n\nRun ${input.runId}.`, config.repository.remote);
  }
}
export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
