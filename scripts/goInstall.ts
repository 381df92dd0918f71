/**
 * One pattern for tools built from the Go module proxy: reuse a binary on PATH whose version
 * matches, else `go install` once into the per-user cache folder keyed by tool and version.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../config/toolCache';

const run = promisify(execFile);

export interface GoTool {
  /** The binary's name, also the cache folder's prefix. */
  name: string;
  /** The package path to `go install`, without the version. */
  module: string;
  /** With the leading v, as the module proxy spells it. */
  version: string;
  /** The version a binary reports (with the leading v), or undefined when it does not run. */
  versionOf(binary: string): Promise<string | undefined>;
  /** Linker flags, e.g. to stamp the version into the binary the way its own release build does. */
  ldflags?: string;
  /** Extra build environment, e.g. CGO_ENABLED=0. */
  env?: Record<string, string>;
  /** How people call it in messages ("the Temporal CLI"); defaults to the binary's name. */
  what?: string;
}

export async function ensureGoTool(tool: GoTool, log: (line: string) => void = console.log): Promise<string> {
  if ((await tool.versionOf(tool.name)) === tool.version) return tool.name;
  const folder = join(cacheDir(), 'tools', `${tool.name}-${tool.version}`);
  const binary = join(folder, tool.name);
  if (existsSync(binary) && (await tool.versionOf(binary)) === tool.version) return binary;

  try {
    await run('go', ['version']);
  } catch {
    throw new Error(`${tool.what ?? tool.name} ${tool.version} is not installed and Go is not on PATH to build it; install Go or put ${tool.name} ${tool.version} on PATH`);
  }
  log(`slipway: building ${tool.what ?? tool.name} ${tool.version} with go install (once; cached in ${folder}) ...`);
  await mkdir(dirname(folder), { recursive: true });
  // Build into a scratch folder and move it in whole, so a cut-off build never looks installed.
  const scratch = await mkdtemp(`${folder}.partial-`);
  try {
    await run('go', ['install', ...(tool.ldflags !== undefined ? [`-ldflags=${tool.ldflags}`] : []), `${tool.module}@${tool.version}`], {
      env: { ...process.env, GOBIN: scratch, GOFLAGS: '-buildvcs=false', ...tool.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    const reported = await tool.versionOf(join(scratch, tool.name));
    if (reported !== tool.version) throw new Error(`the built binary reports version ${reported ?? '(none)'}`);
    await rm(folder, { recursive: true, force: true });
    await rename(scratch, folder);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`go install of ${tool.name} ${tool.version} failed: ${(err as { stderr?: string }).stderr?.slice(-2000) ?? (err as Error).message}`);
  }
  return binary;
}

/** Runs `binary ...args` and returns the first match of `pattern` in its output. */
export async function reportedVersion(binary: string, args: string[], pattern: RegExp): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(binary, args, { timeout: 10_000 });
    return pattern.exec(`${stdout}\n${stderr}`)?.[1];
  } catch {
    return undefined;
  }
}
