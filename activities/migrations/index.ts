import { basename, join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import type { LlmSettings, RepositorySettings, ServiceSettings } from '../../config/settings';
import type { MigrationsNow } from '../../workflows/rollbackPlan';
import type { TokenUsage, Workspace } from '../../workflows/state';
import { migrationWriter, reviewerComments } from '../agents/roles';
import { createRoleRunner, type Budgeted } from '../agents/runner';
import { whileHeartbeating } from '../heartbeat';
import { verifiedGitDirHint, worktreeGit } from '../repo/git';
import { commitPaths } from '../repo/workspace';
import { fileNameOf, readMigrations, worktreeSource, type MigrationFile } from './files';
import { writeWorktreeFile, WorktreePathError } from '../sandbox/worktreeFs';
import { lintMigrations, type LintFinding } from './lint';
import { applyPending, connect, dryRun, MigrationFailed, migrationsSince, revert } from './runner';

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
  service: ServiceSettings;
  /** The environment's name: it picks the variable holding the database URL. */
  environment: string;
  workspace: Workspace;
}

type WithDatabase = ServiceSettings & { database: NonNullable<ServiceSettings['database']> };

export interface DraftMigrationsInput extends Budgeted {
  runId: string;
  feature: string;
  service: ServiceSettings;
  workspace: Workspace;
  repository: RepositorySettings;
  llm?: LlmSettings;
  /** Reviewer comments from rejected rounds: the draft is revised. */
  comments: string[];
}

export interface ReviewMigrationsInput {
  runId: string;
  service: ServiceSettings;
  workspace: Workspace;
  baseBranch: string;
  /** Environments whose databases get a rehearsal (a dry run rolled back). */
  environments: string[];
  blockingRules: string[];
}

export function createMigrationActivities(deps: { logger: Logger; sandbox?: SandboxSettings }) {
  const runRole = createRoleRunner(deps);
  const databaseOf = (service: ServiceSettings): WithDatabase => {
    if (service.database === undefined) throw ApplicationFailure.nonRetryable(`service ${service.name} has no database section in config`, 'NoDatabase');
    return service as WithDatabase;
  };
  /** The URL comes from the environment at call time: never logged, never in workflow history. */
  const databaseUrl = (service: WithDatabase, environment: string): string => {
    const variable = service.database.urlEnvByEnvironment[environment] ?? service.database.urlEnv;
    const url = process.env[variable];
    if (!url) throw ApplicationFailure.nonRetryable(`${variable} is not set: the database URL of ${service.name} in ${environment}`, 'DatabaseNotConfigured');
    return url;
  };
  const migrationsDir = (service: WithDatabase, workspace: Workspace) => join(workspace.path, service.path, service.database.migrationsDir);
  /** The worktree's migrations, read without following a symlink an agent planted (a refusal is the run's to see). */
  const migrationsOf = async (service: WithDatabase, workspace: Workspace): Promise<MigrationFile[]> => {
    try {
      return await readMigrations(migrationsDir(service, workspace), service.database.layout, worktreeSource(workspace.path, join(service.path, service.database.migrationsDir)));
    } catch (err) {
      if (err instanceof WorktreePathError) throw ApplicationFailure.nonRetryable(`the migrations of ${service.name} cannot be read safely: ${err.message}`, 'MigrationFileRefused');
      throw err;
    }
  };
  const withDatabase = async <T>(service: WithDatabase, environment: string, work: (client: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> => {
    let client;
    try {
      client = await connect(databaseUrl(service, environment));
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      // Connection problems are worth a retry; the message never includes the URL.
      throw ApplicationFailure.retryable(`cannot reach the database of ${service.name} in ${environment}: ${(err as Error).message}`, 'DatabaseUnavailable');
    }
    try {
      return await whileHeartbeating(() => work(client), () => ({ service: service.name, environment }));
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
  const newOnBranch = async (service: WithDatabase, workspace: Workspace, baseBranch: string): Promise<MigrationFile[]> => {
    const dir = migrationsDir(service, workspace);
    // Slipway's git on the worktree: the admin folder named, no hooks or fsmonitor (a rewritten .git must not steer it).
    const git = worktreeGit({ gitDir: workspace.gitDir ?? (await verifiedGitDirHint(workspace.path)), worktree: workspace.path });
    const changed = await git.raw(['diff', '--name-only', '--no-ext-diff', `${baseBranch}...HEAD`, '--', relative(workspace.path, dir)]);
    const added = new Set(changed.split('\n').filter(Boolean).map((p) => basename(p)));
    const uncommitted = await git.raw(['ls-files', '--others', '--exclude-standard', '--', relative(workspace.path, dir)]);
    uncommitted.split('\n').filter(Boolean).forEach((p) => added.add(basename(p)));
    return (await migrationsOf(service, workspace)).filter((m) => added.has(basename(m.upPath)));
  };

  return {
    /**
     * Drafts the feature's migrations when the branch has none (or a reviewer rejected them): the
     * migration writer agent with an `llm` section, else a reversible template pair for a person.
     */
    async draftMigrations(input: DraftMigrationsInput): Promise<{ drafted: boolean; usage?: TokenUsage }> {
      const service = databaseOf(input.service);
      const existing = await newOnBranch(service, input.workspace, input.repository.baseBranch);
      if (existing.length > 0 && input.comments.length === 0) return { drafted: false };
      if (input.llm === undefined) {
        await writeTemplate(service, input, existing[0]);
        return { drafted: true };
      }
      const dir = relative(input.workspace.path, migrationsDir(service, input.workspace));
      const outcome = await runRole(
        migrationWriter(input.workspace.path, { name: service.name, dir, up: service.database.layout.up, down: service.database.layout.down }, input.workspace.specDir),
        `Write the migrations ${service.name} needs for ${input.workspace.branch}.${reviewerComments('migrations', input.comments)}`,
        { ...input, llm: input.llm },
        [],
        `migrations(${service.name}): ${input.workspace.branch}`,
      );
      return { drafted: true, usage: outcome.usage };
    },

    /**
     * Lints the branch's new migrations with squawk and rehearses them on each environment's
     * database in a transaction that is rolled back. The summary is what the migration-review gate shows.
     */
    async reviewMigrations(input: ReviewMigrationsInput): Promise<MigrationReview> {
      const service = databaseOf(input.service);
      const files = await newOnBranch(service, input.workspace, input.baseBranch);
      const findings = await lintMigrations(files.flatMap((f) => [f.upPath, ...(f.downPath ? [f.downPath] : [])]), input.blockingRules);
      const rehearsals: string[] = [];
      for (const environment of input.environments) {
        const all = await migrationsOf(service, input.workspace);
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
        summary: [`${files.length} new migration(s): ${files.map((f) => basename(f.upPath)).join(', ') || 'none'}`, lint, ...rehearsals].join('\n'),
      };
    },

    /** Applies the pending migrations in this environment; idempotent, returns every version this run applied. */
    async applyMigrations(input: MigrationTarget): Promise<{ versions: string[] }> {
      const service = databaseOf(input.service);
      const files = await migrationsOf(service, input.workspace);
      const versions = await withDatabase(service, input.environment, (client) => applyPending(client, files, input.runId));
      deps.logger.info({ runId: input.runId, service: service.name, environment: input.environment, versions }, 'migrations applied');
      return { versions };
    },

    /** The saga's compensation: reverts exactly the versions this run applied, newest first. */
    async revertMigrations(input: MigrationTarget & { versions: string[] }): Promise<void> {
      const service = databaseOf(input.service);
      const files = await migrationsOf(service, input.workspace);
      const reverted = await withDatabase(service, input.environment, (client) => revert(client, files, input.runId, input.versions));
      deps.logger.info({ runId: input.runId, service: service.name, environment: input.environment, reverted }, 'migrations reverted');
    },

    /** The run's versions still applied, and what other runs applied after them: a later rollback checks that no one built on them since. */
    async inspectMigrations(input: { runId: string; service: ServiceSettings; environment: string; versions: string[] }): Promise<MigrationsNow> {
      const service = databaseOf(input.service);
      return withDatabase(service, input.environment, (client) => migrationsSince(client, input.runId, input.versions));
    },
  };

  /** A reversible pair for a person to fill in; review comments are kept in it. */
  async function writeTemplate(service: WithDatabase, input: DraftMigrationsInput, existing?: MigrationFile): Promise<void> {
    const dir = migrationsDir(service, input.workspace);
    const version = existing?.version ?? new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    const name = existing?.name ?? input.workspace.branch.replace(/^\d+-/, '').replace(/-/g, '_');
    const review = input.comments.length > 0 ? `-- Review comments:\n${input.comments.map((c) => `--   ${c.replace(/\n/g, ' ')}`).join('\n')}\n` : '';
    const up = `-- ${input.feature}: schema change for ${service.name}\n-- Template written by Slipway (no LLM configured): replace this comment with the forward migration.\n${review}`;
    const down = `-- Reverts ${version}_${name}: undo exactly what the up migration does.\n`;
    const upPath = join(dir, fileNameOf(service.database.layout.up, version, name));
    const downPath = join(dir, fileNameOf(service.database.layout.down, version, name));
    const write = (path: string, text: string) => writeWorktreeFile(input.workspace.path, relative(input.workspace.path, path), text, 1024 * 1024);
    await write(upPath, existing ? `${existing.up.replace(/-- Review comments:[\s\S]*$/, '')}${review}` : up);
    if (!existing?.downPath) await write(downPath, down);
    await commitPaths(input.workspace, [relative(input.workspace.path, upPath), relative(input.workspace.path, downPath)], `migrations: ${service.name} ${version}_${name}\n\nRun ${input.runId}.`, input.repository.remote);
  }
}
export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
