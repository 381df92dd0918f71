/** The `slipway` commands (commander), run against explicit surroundings so tests can drive them. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { version } from '../package.json';
import { PHASES, RUN_STATUSES, type RunStatus } from '../workflows/state';
import { ApiClient } from './apiClient';
import { resolveTarget, ROLES, type Role, type Surroundings } from './credentials';
import { CliError, EXIT, EXIT_CODES_HELP, exitCodeForOutcome, type ExitCode } from './exitCodes';
import { decisionLine, oneLine, renderFreeze, renderRollback, renderRun } from './render';
import { renderReport } from './report';
import { renderEvidence, renderRunList } from './tables';
import { ChangedLines, RedrawnBlock, type Output } from './terminal';
import { watchRun } from './watch';

export interface CliIo extends Surroundings {
  stdout: Output;
  stderr: Pick<Output, 'write'>;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

interface GlobalFlags {
  api?: string;
  as?: Role;
  json?: boolean;
}

const HELP_AFTER = `
Token: SLIPWAY_TOKEN; else "token" in ~/.config/slipway/cli.json (or the file $SLIPWAY_CLI_CONFIG
names: {"api": "http://127.0.0.1:8080", "token": "…"}); else .slipway/dev-tokens of the checkout
you are in, which \`npm start\` writes (--as approver picks the approver's token).
API address: --api, SLIPWAY_API, "api" in the config file, else http://127.0.0.1:8080.

${EXIT_CODES_HELP}`;

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new InvalidArgumentError('give seconds between 0.2 and 3600');
  return n;
}

/** A phase as runs publish it: `specify`, …, or `deploy:<environment>` while deploying. */
function phase(value: string): string {
  const [name, environment] = value.split(':', 2);
  const known = (PHASES as readonly string[]).includes(name ?? '');
  if (!known || (environment !== undefined && (name !== 'deploy' || !/^[a-z0-9][a-z0-9-]*$/.test(environment)))) {
    throw new InvalidArgumentError(`a phase is one of ${PHASES.join(', ')}, or deploy:<environment>`);
  }
  return value;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Colour only for a terminal, and never against NO_COLOR; FORCE_COLOR forces it. */
function wantsColor(io: CliIo): boolean {
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0') return true;
  return io.stdout.isTTY === true && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb';
}

export function buildProgram(io: CliIo, setExit: (code: ExitCode) => void): Command {
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = io.now ?? (() => new Date());
  const print = (lines: string[]) => io.stdout.write(lines.map((l) => `${l}\n`).join(''));
  /** --json prints the API's reply exactly; otherwise the lines a person reads. */
  const emit = (flags: GlobalFlags, reply: { text: string }, lines: () => string[]) => {
    if (flags.json) io.stdout.write(reply.text.endsWith('\n') ? reply.text : `${reply.text}\n`);
    else print(lines());
  };
  const tty = io.stdout.isTTY === true;
  const color = wantsColor(io);

  const program = new Command('slipway');
  program
    .description("Slipway's command-line client: start feature runs, follow them, decide their gates.")
    .version(version, '-V, --version', 'print the CLI version')
    .helpOption('-h, --help', 'show help for the command')
    .option('--api <url>', 'the Slipway API (default: $SLIPWAY_API, the config file, http://127.0.0.1:8080)')
    .addOption(new Option('--as <role>', "use this role's token from .slipway/dev-tokens").choices(ROLES))
    .option('--json', "print exactly the API's JSON on stdout, nothing else")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', HELP_AFTER)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`slipway: ${text.replace(/^error: /, '')}`),
    });

  const flagsOf = (command: Command) => command.optsWithGlobals<GlobalFlags>();
  const connect = async (flags: GlobalFlags) => new ApiClient(await resolveTarget(flags, io, (line) => io.stderr.write(`slipway: ${line}\n`)), io.fetch ? { fetch: io.fetch } : {});

  program
    .command('start')
    .description('start a run from one sentence that describes the feature')
    .argument('<sentence...>', 'the feature, e.g. "Add real-time notifications when users receive new messages"')
    .option('-s, --service <name>', 'a service the feature touches; repeat for more (default: the plan decides)', collect, [])
    .option('-k, --key <key>', 'idempotency key: the same key returns the same run, never a second one')
    .action(async (words: string[], options: { service: string[]; key?: string }, command: Command) => {
      const flags = flagsOf(command);
      const api = await connect(flags);
      const reply = await api.startRun({ feature: words.join(' '), ...(options.service.length > 0 ? { services: options.service } : {}), ...(options.key ? { idempotencyKey: options.key } : {}) });
      const { runId, created, temporalUiUrl } = reply.body;
      emit(flags, reply, () => [
        created ? `started run ${runId}` : `run ${runId} already exists for key ${options.key ?? ''}: not started again`,
        `  follow it:   slipway watch ${runId}`,
        ...(temporalUiUrl ? [`  Temporal UI: ${temporalUiUrl}`] : []),
      ]);
    });

  program
    .command('list')
    .description('list runs, newest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(RUN_STATUSES))
    .option('--phase <phase>', `only runs in this phase: ${PHASES.join(', ')}; a deploy is deploy:<environment>`, phase)
    .option('-n, --limit <n>', 'at most this many runs (1-200; the API defaults to 50)', integer('--limit', 1, 200))
    .action(async (options: { status?: RunStatus; phase?: string; limit?: number }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).listRuns(options);
      emit(flags, reply, () => renderRunList(reply.body.runs));
    });

  program
    .command('status')
    .description('show a run: phase, status, the gate it waits at and how to decide it, rollouts and soaks, the latest events')
    .argument('<run>', 'the run id (feature-…)')
    .option('-t, --timeline <n>', 'timeline events to show', integer('--timeline', 0, 200), 8)
    .action(async (runId: string, options: { timeline: number }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).run(runId);
      emit(flags, reply, () => renderRun(reply.body, { timeline: options.timeline, gateSummaryLines: 20, color, now: now(), ...(tty && io.stdout.columns ? { width: io.stdout.columns } : {}) }));
    });

  program
    .command('watch')
    .description("follow a run live until it ends; exits with the run's outcome (0, 10, 11, 12)")
    .argument('<run>', 'the run id')
    .option('-i, --interval <seconds>', 'how often to ask the API', seconds, 1)
    .action(async (runId: string, options: { interval: number }, command: Command) => {
      const flags = flagsOf(command);
      const api = await connect(flags);
      const final = await watchRun(api, runId, {
        intervalMs: options.interval * 1000,
        sleep,
        json: flags.json === true,
        out: io.stdout,
        view: tty ? new RedrawnBlock(io.stdout) : new ChangedLines(io.stdout),
        // A terminal gets a ticking clock and lines cut to its width; a log gets each change once.
        render: (state) =>
          renderRun(state, { timeline: 3, color, unicode: tty, ...(tty ? { now: now(), ...(io.stdout.columns ? { width: io.stdout.columns } : {}) } : {}) }),
      });
      setExit(exitCodeForOutcome(final.status) ?? EXIT.unexpected);
    });

  /** approve and reject: one route, one kind of answer. */
  const decide = async (decision: 'approve' | 'reject', runId: string, gate: string, comment: string | undefined, command: Command, override?: boolean) => {
    const flags = flagsOf(command);
    const reply = await (await connect(flags)).decide(runId, gate, decision, comment, override);
    const record = reply.body.gate;
    emit(flags, reply, () => [decisionLine(runId, decision, record), `  follow it: slipway watch ${runId}`]);
  };

  program
    .command('approve')
    .description('approve a pending gate (approvers only)')
    .argument('<run>', 'the run id')
    .argument('<gate>', 'the gate, e.g. spec, migration-review, manifest-review, production')
    .option('-m, --message <comment>', 'a comment for the audit trail')
    .option('--override', "approve alone, whatever approvals the gate needs (only the gate's overrideBy; needs -m saying why)")
    .action((runId: string, gate: string, options: { message?: string; override?: boolean }, command: Command) => {
      if (options.override && (options.message ?? '').trim() === '') throw new CliError(EXIT.usage, 'an override needs a comment saying why the gate cannot wait: --override -m "…"');
      return decide('approve', runId, gate, options.message, command, options.override);
    });

  program
    .command('reject')
    .description('reject a pending gate, saying what to change (approvers only)')
    .argument('<run>', 'the run id')
    .argument('<gate>', 'the gate')
    .requiredOption('-m, --message <comment>', 'what to change: the agent or person revising gets it')
    .action((runId: string, gate: string, options: { message: string }, command: Command) => {
      if (options.message.trim() === '') throw new CliError(EXIT.usage, 'a rejection needs a comment saying what to change: -m "…"');
      return decide('reject', runId, gate, options.message, command);
    });

  program
    .command('cancel')
    .description('cancel a run; what it changed is rolled back (its requester or an approver)')
    .argument('<run>', 'the run id')
    .option('-m, --message <reason>', 'why, for the timeline')
    .action(async (runId: string, options: { message?: string }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).cancel(runId, options.message);
      emit(flags, reply, () => [`cancel requested for ${runId}: what it changed is rolled back`, `  follow it: slipway watch ${runId}`]);
    });

  program
    .command('freeze')
    .description('freeze production (approvers): no production rollout starts until someone unfreezes; --status shows the freeze')
    .option('-m, --message <reason>', 'why: every held run shows it')
    .option('--status', 'show whether production is frozen (by hand or by a scheduled window), since when, and which runs wait')
    .action(async (options: { message?: string; status?: boolean }, command: Command) => {
      const flags = flagsOf(command);
      if (options.status && options.message !== undefined) throw new CliError(EXIT.usage, 'give either -m "reason" to freeze or --status to look, not both');
      if (!options.status && (options.message ?? '').trim() === '') throw new CliError(EXIT.usage, 'freezing production needs a reason: slipway freeze -m "…" (or --status to look)');
      const api = await connect(flags);
      const reply = options.status ? await api.freezeStatus() : await api.freeze(options.message ?? '');
      emit(flags, reply, () => renderFreeze(reply.body, { color }));
    });

  program
    .command('unfreeze')
    .description('lift the freeze by hand (approvers); held runs go on by themselves, unless a scheduled window still holds them')
    .option('-m, --message <comment>', 'a comment for the freeze history')
    .action(async (options: { message?: string }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).unfreeze(options.message);
      emit(flags, reply, () => renderFreeze(reply.body, { color }));
    });

  program
    .command('override-freeze')
    .description("let one run held by a production freeze go on (an approver other than the run's requester); recorded in its approvals")
    .argument('<run>', 'the run id')
    .requiredOption('-m, --message <comment>', 'why this run cannot wait for the freeze to lift')
    .action(async (runId: string, options: { message: string }, command: Command) => {
      if (options.message.trim() === '') throw new CliError(EXIT.usage, 'an override needs a comment saying why the run cannot wait: -m "…"');
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).overrideFreeze(runId, options.message);
      emit(flags, reply, () => [`overrode the production freeze for ${runId} as ${oneLine(reply.body.override.by)}`, `  follow it: slipway watch ${runId}`]);
    });

  program
    .command('rollback')
    .description('roll a delivered run back later: each Deployment to its previous revision, its migrations reverted, production first, once an approver other than you approves; --status shows where it stands')
    .argument('<run>', 'the delivered run id')
    .option('-m, --message <reason>', 'why it has to go: the approver and the record read it')
    .option('--force', 'go ahead although later runs changed the same services or databases (the gate shows what they lose)')
    .option('-c, --comment <comment>', 'with --force: why the later changes may go')
    .option('--status', 'show the rollback of this run: its gate, steps and outcome')
    .action(async (runId: string, options: { message?: string; force?: boolean; comment?: string; status?: boolean }, command: Command) => {
      const flags = flagsOf(command);
      if (options.status && (options.message !== undefined || options.force)) throw new CliError(EXIT.usage, 'give either -m "reason" to ask for a rollback or --status to look, not both');
      if (!options.status && (options.message ?? '').trim() === '') throw new CliError(EXIT.usage, 'a rollback needs a reason: slipway rollback <run> -m "…" (or --status to look)');
      if (options.force && (options.comment ?? '').trim() === '') throw new CliError(EXIT.usage, 'forcing a rollback needs a comment saying why the later changes may go: --force -c "…"');
      if (!options.force && options.comment !== undefined) throw new CliError(EXIT.usage, '-c is the comment of --force; the reason goes in -m');
      const api = await connect(flags);
      const reply = options.status
        ? await api.rollbackStatus(runId)
        : await api.rollback(runId, { reason: options.message ?? '', ...(options.force ? { force: true, comment: options.comment ?? '' } : {}) });
      emit(flags, reply, () => renderRollback(reply.body, { color }));
    });

  program
    .command('report')
    .description("the run's summary report: services modified, migrations, deployments, observability, docs, quality, monitoring, rollback plan")
    .argument('<run>', 'the run id')
    .option('--markdown', 'the Markdown committed on the branch instead')
    .action(async (runId: string, options: { markdown?: boolean }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).report(runId);
      if (!flags.json && !reply.body.final) io.stderr.write(`slipway: ${runId} is still ${reply.body.status}: the report says where it stands so far\n`);
      if (!flags.json && reply.body.stale) io.stderr.write(`slipway: no worker answered: this report comes from the run's last published state, without what its branch holds\n`);
      emit(flags, reply, () => (options.markdown ? [reply.body.markdown.replace(/\n$/, '')] : renderReport(reply.body.report)));
    });

  program
    .command('evidence')
    .description("the samples behind a soak's or watch's verdict: time, verdict, decision, each check's value against its threshold")
    .argument('<run>', 'the run id')
    .requiredOption('--service <name>', 'the service')
    .option('--env <environment>', 'the environment (default: the latest with such evidence)')
    .addOption(new Option('--kind <kind>', 'a production soak or the post-deploy watch').choices(['soak', 'watch']).default('soak'))
    .option('-p, --page <n>', 'page number', integer('--page', 1, 100_000), 1)
    .option('--page-size <n>', 'samples per page (1-50)', integer('--page-size', 1, 50))
    .action(async (runId: string, options: { service: string; env?: string; kind: 'soak' | 'watch'; page: number; pageSize?: number }, command: Command) => {
      const flags = flagsOf(command);
      const reply = await (await connect(flags)).evidence(runId, {
        service: options.service,
        kind: options.kind,
        page: options.page,
        ...(options.env !== undefined ? { environment: options.env } : {}),
        ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
      });
      const page = reply.body;
      emit(flags, reply, () => [
        ...renderEvidence(page),
        ...(page.page < page.pages
          ? ['', `next: slipway evidence ${runId} --service ${page.service} --env ${page.environment}${page.kind === 'watch' ? ' --kind watch' : ''} --page ${page.page + 1}`]
          : []),
      ]);
    });

  return program;
}

/** Runs one command line; resolves to the exit code, having written everything to `io`. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // --help and --version end through here too, with exit code 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      io.stderr.write(`slipway: ${oneLine(err.message)}\n`);
      return err.exitCode;
    }
    io.stderr.write(`slipway: unexpected error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    if (io.env.SLIPWAY_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return EXIT.unexpected;
  }
}
