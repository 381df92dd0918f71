/**
 * The tools an agent may use, confined to the run's git worktree. Every refusal is a
 * ToolError whose message the model sees as an error result; nothing here crashes the agent.
 *
 * Paths are resolved by descriptor without following symlinks (see ../sandbox/worktreeFs.ts), so
 * neither a planted symlink nor a folder swapped mid-call can send a read or write outside; every
 * read and every write is capped; commands run in the bubblewrap sandbox without the network.
 */
import type { Logger } from 'pino';
import { RE2JS } from 're2js';
import { z } from 'zod';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import { runConfined } from '../sandbox/confined';
import { kindOf, listFolder, readWorktreeFile, updateWorktreeFile, walkWorktree, worktreeComponents, writeWorktreeFile, WorktreePathError } from '../sandbox/worktreeFs';

export class ToolError extends Error {
  override name = 'ToolError';
}

export interface ToolContext {
  /** The worktree; nothing outside it can be read, written or run in. */
  root: string;
  /** The cap on every file read and on every file's size after a write. */
  maxFileBytes: number;
  /** Exact command lines the agent may run (the service's configured commands). */
  commands: string[];
  commandTimeoutMs: number;
  outputCapBytes: number;
  /** Commits every change in the worktree (and pushes when a remote is configured); returns the commit or undefined when nothing changed. */
  commit?: (message: string) => Promise<string | undefined>;
  /** How run_command is confined; bubblewrap with the default limits when absent. */
  sandbox?: SandboxSettings;
  /** Variables (an allow-list, never secrets) run_command's commands get besides PATH, HOME and LANG. */
  env?: Record<string, string>;
  /** Worktree paths the repository's git config points to (hooks, attribute files, filter scripts): never written. */
  protectedPaths?: string[];
  logger?: Logger;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);
const MAX_HITS = 200;
const MAX_PATTERN_CHARS = 1000;
const MAX_PROGRAM_SIZE = 10_000;
/** A search stops (and says so) after this long or this many files, whatever the pattern. */
const SEARCH_BUDGET_MS = 10_000;
const SEARCH_MAX_FILES = 20_000;

/** Runs a worktree file operation, turning its refusals into ToolErrors for the model. */
async function confined<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof WorktreePathError) throw new ToolError(err.message);
    throw err;
  }
}

const shown = (path: string) => worktreeComponents(path).join('/') || '.';

async function view(ctx: ToolContext, input: { path: string; start_line?: number; end_line?: number }): Promise<string> {
  return confined(async () => {
    const kind = await kindOf(ctx.root, input.path);
    if (kind === 'missing') throw new ToolError(`${input.path} does not exist`);
    if (kind === 'symlink') throw new ToolError(`${input.path} is a symlink: tools never follow symlinks (one could lead outside the workspace)`);
    if (kind === 'folder') {
      const entries = (await listFolder(ctx.root, input.path)).filter((e) => !SKIP_DIRS.has(e.name));
      return entries.map((e) => (e.kind === 'symlink' ? `${e.name}@` : e.kind === 'folder' ? `${e.name}/` : e.name)).sort().join('\n') || '(empty directory)';
    }
    const lines = (await readWorktreeFile(ctx.root, input.path, ctx.maxFileBytes)).split('\n');
    const from = Math.max(1, input.start_line ?? 1);
    const to = Math.min(lines.length, input.end_line ?? lines.length);
    return lines.slice(from - 1, to).map((line, i) => `${String(from + i).padStart(5)}\t${line}`).join('\n');
  });
}

async function create(ctx: ToolContext, input: { path: string; content: string }): Promise<string> {
  return confined(async () => {
    const outcome = await writeWorktreeFile(ctx.root, input.path, input.content, ctx.maxFileBytes, ctx.protectedPaths);
    return `${outcome} ${shown(input.path)}`;
  });
}

/** Rewrites an existing file through one descriptor; `change` returns the new text (capped) or throws a ToolError. */
const rewrite = (ctx: ToolContext, path: string, change: (text: string) => string) =>
  confined(() => updateWorktreeFile(ctx.root, path, ctx.maxFileBytes, change, ctx.protectedPaths));

async function strReplace(ctx: ToolContext, input: { path: string; old_str: string; new_str: string }): Promise<string> {
  if (input.old_str === '') throw new ToolError('old_str must not be empty');
  let line = 0;
  await rewrite(ctx, input.path, (text) => {
    const lines: number[] = [];
    for (let at = text.indexOf(input.old_str); at !== -1 && lines.length <= 50; at = text.indexOf(input.old_str, at + 1)) lines.push(text.slice(0, at).split('\n').length);
    if (lines.length === 0) throw new ToolError(`old_str was not found in ${input.path}`);
    if (lines.length > 1) throw new ToolError(`old_str is not unique in ${input.path}: it occurs ${lines.length > 50 ? 'over 50' : lines.length} times, at lines ${lines.slice(0, 50).join(', ')}; include more context`);
    line = lines[0] as number;
    return text.replace(input.old_str, () => input.new_str);
  });
  return `replaced 1 occurrence in ${shown(input.path)} (line ${line})`;
}

async function insert(ctx: ToolContext, input: { path: string; insert_line: number; text: string }): Promise<string> {
  await rewrite(ctx, input.path, (text) => {
    const lines = text.split('\n');
    if (input.insert_line < 0 || input.insert_line > lines.length) throw new ToolError(`insert_line must be between 0 and ${lines.length}`);
    lines.splice(input.insert_line, 0, ...input.text.split('\n'));
    return lines.join('\n');
  });
  return `inserted ${input.text.split('\n').length} line(s) after line ${input.insert_line} of ${shown(input.path)}`;
}

/** Compiles a search pattern for RE2 (linear time: no pattern can make a search hang); JavaScript syntax is translated where it can be. */
function compilePattern(pattern: string): RE2JS {
  if (pattern.length > MAX_PATTERN_CHARS) throw new ToolError(`the pattern is ${pattern.length} characters, over the ${MAX_PATTERN_CHARS}-character limit`);
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    throw new ToolError(`invalid regular expression (RE2 syntax: no backreferences or lookaround): ${(err as Error).message}`);
  }
  if (regex.programSize() > MAX_PROGRAM_SIZE) throw new ToolError('the pattern is too complex; use a simpler one');
  return regex;
}

async function search(ctx: ToolContext, input: { pattern: string; path?: string }): Promise<string> {
  const regex = compilePattern(input.pattern);
  const start = input.path ?? '.';
  const hits: string[] = [];
  const deadline = performance.now() + SEARCH_BUDGET_MS;
  let files = 0;
  let stopped: string | undefined;
  const scan = (file: string, text: string) => {
    text.split('\n').forEach((line, i) => {
      if (hits.length < MAX_HITS && regex.test(line)) hits.push(`${file}:${i + 1}: ${line.slice(0, 300)}`);
    });
  };
  await confined(async () => {
    const kind = await kindOf(ctx.root, start);
    if (kind === 'missing') throw new ToolError(`${start} does not exist`);
    if (kind === 'symlink') throw new ToolError(`${start} is a symlink: tools never follow symlinks`);
    if (kind === 'file') return scan(shown(start), await readWorktreeFile(ctx.root, start, ctx.maxFileBytes));
    await walkWorktree(ctx.root, start, { skip: SKIP_DIRS, maxBytes: ctx.maxFileBytes }, async (file, read) => {
      if (hits.length >= MAX_HITS) return false;
      if (++files > SEARCH_MAX_FILES) stopped = `stopped after ${SEARCH_MAX_FILES} files`;
      else if (performance.now() > deadline) stopped = `stopped after ${SEARCH_BUDGET_MS / 1000} s`;
      if (stopped !== undefined) return false;
      const text = await read().catch(() => undefined); // over the size cap, or replaced meanwhile: skipped like grep skips binaries
      if (text !== undefined) scan(file, text);
      return true;
    });
  });
  const notes = [...(hits.length >= MAX_HITS ? [`(first ${MAX_HITS} matches)`] : []), ...(stopped !== undefined ? [`(search ${stopped}; narrow the path)`] : [])];
  return hits.length === 0 && notes.length === 0 ? 'no matches' : [...hits, ...notes].join('\n');
}

/**
 * Checks paths an agent hands back in its result: each must name a regular file inside the
 * worktree, reached without a symlink and outside .git. Returns one problem per bad path.
 */
export async function checkResultPaths(root: string, paths: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const path of paths) {
    try {
      // kindOf opens every folder on the way with O_NOFOLLOW and reports the last component as it is.
      const kind = await kindOf(root, path);
      if (kind !== 'file') problems.push(`${path} ${kind === 'missing' ? 'does not exist' : `is a ${kind}, not a file`}`);
    } catch (err) {
      if (!(err instanceof WorktreePathError)) throw err;
      problems.push(err.message);
    }
  }
  return problems;
}

/**
 * Runs one of the allowed command lines in the worktree's sandbox (no network), with a timeout
 * and the output's tail capped. What runs is the allow-listed line itself, never the model's text.
 */
async function runCommand(ctx: ToolContext, input: { command: string }): Promise<string> {
  const normalised = input.command.trim();
  const allowed = ctx.commands.find((c) => c.trim() === normalised);
  if (allowed === undefined || normalised === '') {
    throw new ToolError(`command not allowed: ${input.command}. Allowed: ${ctx.commands.length > 0 ? ctx.commands.join(' | ') : '(none)'}`);
  }
  const result = await runConfined(
    ctx.sandbox ?? defaultSandboxSettings(),
    { command: allowed.trim(), worktree: ctx.root, cwd: ctx.root, env: ctx.env ?? {}, network: false, timeoutMs: ctx.commandTimeoutMs, outputCapBytes: ctx.outputCapBytes },
    ctx.logger,
  );
  const output = result.truncated ? `(output cut to its last ${ctx.outputCapBytes} bytes)\n${result.output}` : result.output;
  if (result.timedOut) return `timed out after ${ctx.commandTimeoutMs} ms\n${output}`;
  if (result.error !== undefined) return `the command did not complete: ${result.error}\n${output}`;
  return `exit code ${result.code}\n${output}`;
}

async function commit(ctx: ToolContext, input: { message: string }): Promise<string> {
  if (ctx.commit === undefined) throw new ToolError('committing is not available to this role');
  const sha = await ctx.commit(input.message);
  return sha ? `committed ${sha}` : 'nothing to commit';
}

/** Tool definitions: name, what the model reads, the input schema (zod, also sent as JSON Schema), and the work. */
export const WORKSPACE_TOOLS = {
  view: {
    description: 'View a file (with line numbers, optionally a line range) or list a directory, relative to the repository root.',
    input: z.object({ path: z.string(), start_line: z.number().int().positive().optional(), end_line: z.number().int().positive().optional() }),
    run: view,
  },
  create_file: {
    description: 'Create or overwrite a file with the given content.',
    input: z.object({ path: z.string(), content: z.string() }),
    run: create,
  },
  str_replace: {
    description: 'Replace a string that occurs exactly once in a file.',
    input: z.object({ path: z.string(), old_str: z.string(), new_str: z.string() }),
    run: strReplace,
  },
  insert: {
    description: 'Insert text after the given line of a file (0 inserts at the top).',
    input: z.object({ path: z.string(), insert_line: z.number().int(), text: z.string() }),
    run: insert,
  },
  search: {
    description: 'Search files for a regular expression (like grep -rn); optionally below a path.',
    input: z.object({ pattern: z.string(), path: z.string().optional() }),
    run: search,
  },
  run_command: {
    description: "Run one of the service's allowed commands (e.g. its tests) in the repository root; returns exit code and output.",
    input: z.object({ command: z.string() }),
    run: runCommand,
  },
  commit: {
    description: 'Commit all changes so far with a clear message saying what and why (one commit per task, e.g. "T004: add SendNotification handler").',
    input: z.object({ message: z.string().min(3).max(2000) }),
    run: commit,
  },
} as const;

export type WorkspaceToolName = keyof typeof WORKSPACE_TOOLS;

/** Runs a tool call from the model: validated input, ToolErrors as messages for the model. */
export async function runWorkspaceTool(ctx: ToolContext, name: string, input: unknown): Promise<{ ok: boolean; text: string }> {
  const tool = WORKSPACE_TOOLS[name as WorkspaceToolName];
  if (tool === undefined) return { ok: false, text: `unknown tool ${name}` };
  const parsed = tool.input.safeParse(input);
  if (!parsed.success) return { ok: false, text: `invalid input for ${name}: ${z.prettifyError(parsed.error)}` };
  try {
    return { ok: true, text: await (tool.run as (c: ToolContext, i: unknown) => Promise<string>)(ctx, parsed.data) };
  } catch (err) {
    if (err instanceof ToolError) return { ok: false, text: err.message };
    const code = (err as NodeJS.ErrnoException).code;
    if (code) return { ok: false, text: `${name} failed: ${code}` };
    throw err;
  }
}
