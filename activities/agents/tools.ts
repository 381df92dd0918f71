/**
 * The tools an agent may use, confined to the run's git worktree. Every refusal is a
 * ToolError whose message the model sees as an error result; nothing here crashes the agent.
 */
import { lstat, mkdir, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { runShell } from '../commands/shell';

export class ToolError extends Error {
  override name = 'ToolError';
}

export interface ToolContext {
  /** The worktree; nothing outside it can be read, written or run in. */
  root: string;
  maxFileBytes: number;
  /** Exact command lines the agent may run (the service's configured commands). */
  commands: string[];
  commandTimeoutMs: number;
  outputCapBytes: number;
  /** Commits every change in the worktree (and pushes when a remote is configured); returns the commit or undefined when nothing changed. */
  commit?: (message: string) => Promise<string | undefined>;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);

/** Resolves a path the model gave, refusing anything that leaves the worktree (.., absolute paths, symlinks out). */
export async function insideWorkspace(ctx: ToolContext, path: string): Promise<string> {
  if (typeof path !== 'string' || path.trim() === '') throw new ToolError('path is required');
  if (isAbsolute(path)) throw new ToolError(`absolute paths are refused: give a path relative to the repository root (got ${path})`);
  const root = await realpath(ctx.root);
  const target = resolve(root, path);
  if (target !== root && !target.startsWith(root + sep)) throw new ToolError(`${path} is outside the workspace`);
  // The deepest part that exists decides where the path really goes (a symlink may point out).
  let existing = target;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (real !== root && !real.startsWith(root + sep)) throw new ToolError(`${path} leads outside the workspace through a symlink`);
      break;
    } catch (err) {
      if (err instanceof ToolError) throw err;
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  return target;
}

const show = (ctx: ToolContext, absolute: string) => relative(ctx.root, absolute) || '.';

async function view(ctx: ToolContext, input: { path: string; start_line?: number; end_line?: number }): Promise<string> {
  const target = await insideWorkspace(ctx, input.path);
  const info = await stat(target).catch(() => undefined);
  if (info === undefined) throw new ToolError(`${input.path} does not exist`);
  if (info.isDirectory()) {
    const entries = (await readdir(target, { withFileTypes: true })).filter((e) => !SKIP_DIRS.has(e.name));
    return entries.map((e) => (e.isSymbolicLink() ? `${e.name}@` : e.isDirectory() ? `${e.name}/` : e.name)).sort().join('\n') || '(empty directory)';
  }
  if (info.size > ctx.maxFileBytes) throw new ToolError(`${input.path} is ${info.size} bytes, over the ${ctx.maxFileBytes}-byte limit; search it instead`);
  const lines = (await readFile(target, 'utf8')).split('\n');
  const from = Math.max(1, input.start_line ?? 1);
  const to = Math.min(lines.length, input.end_line ?? lines.length);
  return lines.slice(from - 1, to).map((line, i) => `${String(from + i).padStart(5)}\t${line}`).join('\n');
}

async function create(ctx: ToolContext, input: { path: string; content: string }): Promise<string> {
  const target = await insideWorkspace(ctx, input.path);
  if (Buffer.byteLength(input.content) > ctx.maxFileBytes) throw new ToolError(`content is over the ${ctx.maxFileBytes}-byte limit`);
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new ToolError(`${input.path} is a directory`);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, input.content);
  return `${existing ? 'overwrote' : 'created'} ${show(ctx, target)}`;
}

async function readText(ctx: ToolContext, path: string): Promise<{ target: string; text: string }> {
  const target = await insideWorkspace(ctx, path);
  const info = await stat(target).catch(() => undefined);
  if (info === undefined || !info.isFile()) throw new ToolError(`${path} is not a file`);
  if (info.size > ctx.maxFileBytes) throw new ToolError(`${path} is over the ${ctx.maxFileBytes}-byte limit`);
  return { target, text: await readFile(target, 'utf8') };
}

async function strReplace(ctx: ToolContext, input: { path: string; old_str: string; new_str: string }): Promise<string> {
  const { target, text } = await readText(ctx, input.path);
  if (input.old_str === '') throw new ToolError('old_str must not be empty');
  const lines: number[] = [];
  for (let at = text.indexOf(input.old_str); at !== -1; at = text.indexOf(input.old_str, at + 1)) lines.push(text.slice(0, at).split('\n').length);
  if (lines.length === 0) throw new ToolError(`old_str was not found in ${input.path}`);
  if (lines.length > 1) throw new ToolError(`old_str is not unique in ${input.path}: it occurs ${lines.length} times, at lines ${lines.join(', ')}; include more context`);
  await writeFile(target, text.replace(input.old_str, () => input.new_str));
  return `replaced 1 occurrence in ${show(ctx, target)} (line ${lines[0]})`;
}

async function insert(ctx: ToolContext, input: { path: string; insert_line: number; text: string }): Promise<string> {
  const { target, text } = await readText(ctx, input.path);
  const lines = text.split('\n');
  if (input.insert_line < 0 || input.insert_line > lines.length) throw new ToolError(`insert_line must be between 0 and ${lines.length}`);
  lines.splice(input.insert_line, 0, ...input.text.split('\n'));
  await writeFile(target, lines.join('\n'));
  return `inserted ${input.text.split('\n').length} line(s) after line ${input.insert_line} of ${show(ctx, target)}`;
}

async function search(ctx: ToolContext, input: { pattern: string; path?: string }): Promise<string> {
  let regex: RegExp;
  try {
    regex = new RegExp(input.pattern);
  } catch (err) {
    throw new ToolError(`invalid regular expression: ${(err as Error).message}`);
  }
  const start = await insideWorkspace(ctx, input.path ?? '.');
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (hits.length >= 200) return;
      if (SKIP_DIRS.has(entry.name) || entry.isSymbolicLink()) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && (await stat(path)).size <= ctx.maxFileBytes) {
        (await readFile(path, 'utf8')).split('\n').forEach((line, i) => {
          if (hits.length < 200 && regex.test(line)) hits.push(`${show(ctx, path)}:${i + 1}: ${line.slice(0, 300)}`);
        });
      }
    }
  };
  const info = await stat(start).catch(() => undefined);
  if (info === undefined) throw new ToolError(`${input.path} does not exist`);
  if (info.isDirectory()) await walk(start);
  else (await readFile(start, 'utf8')).split('\n').forEach((line, i) => regex.test(line) && hits.push(`${show(ctx, start)}:${i + 1}: ${line}`));
  return hits.length === 0 ? 'no matches' : `${hits.join('\n')}${hits.length >= 200 ? '\n(first 200 matches)' : ''}`;
}

/** Runs one of the allowed command lines in the worktree, with a timeout and the output's tail capped. */
async function runCommand(ctx: ToolContext, input: { command: string }): Promise<string> {
  if (!ctx.commands.includes(input.command.trim())) {
    throw new ToolError(`command not allowed: ${input.command}. Allowed: ${ctx.commands.length > 0 ? ctx.commands.join(' | ') : '(none)'}`);
  }
  const result = await runShell(input.command, { cwd: ctx.root, timeoutMs: ctx.commandTimeoutMs, outputCapBytes: ctx.outputCapBytes });
  const output = result.truncated ? `(output cut to its last ${ctx.outputCapBytes} bytes)\n${result.output}` : result.output;
  return result.timedOut ? `timed out after ${ctx.commandTimeoutMs} ms\n${output}` : `exit code ${result.code}\n${output}`;
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
