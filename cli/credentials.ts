/**
 * Where the CLI finds the API and its bearer token: flags, then environment, then the config file,
 * then (for a local `npm start`) the checkout's `.slipway/dev-tokens`. A token is never printed:
 * messages name its source, not its value.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { CliError, EXIT } from './exitCodes';

export const DEFAULT_API = 'http://127.0.0.1:8080';
export const ROLES = ['requester', 'approver'] as const;
export type Role = (typeof ROLES)[number];

/** What the CLI knows of its surroundings; tests pass their own. */
export interface Surroundings {
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
}

export interface Target {
  api: URL;
  token: string;
  /** Where the token came from, for messages ("SLIPWAY_TOKEN", a file path). */
  tokenSource: string;
}

const configFileSchema = z.object({
  api: z.string().min(1).optional(),
  token: z.string().trim().min(1).optional(),
});
export type ConfigFile = z.infer<typeof configFileSchema>;

export const TOKEN_SOURCES =
  'set SLIPWAY_TOKEN, put {"api": "…", "token": "…"} in ~/.config/slipway/cli.json (or the file $SLIPWAY_CLI_CONFIG names), ' +
  'or run inside a checkout where `npm start` wrote .slipway/dev-tokens (add --as approver for the approver\'s token)';

export function configFilePath(where: Surroundings): { path: string; explicit: boolean } {
  const named = where.env.SLIPWAY_CLI_CONFIG;
  if (named) return { path: resolve(where.cwd, named), explicit: true };
  const base = where.env.XDG_CONFIG_HOME || join(where.home, '.config');
  return { path: join(base, 'slipway', 'cli.json'), explicit: false };
}

/** The config file, or undefined when the default one does not exist; warnings go to `warn`. */
export async function readConfigFile(where: Surroundings, warn: (line: string) => void): Promise<ConfigFile | undefined> {
  const { path, explicit } = configFilePath(where);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return undefined;
    throw new CliError(EXIT.usage, `cannot read the CLI config ${path} (from SLIPWAY_CLI_CONFIG): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text, which may hold the token.
    throw new CliError(EXIT.usage, `the CLI config ${path} is not valid JSON (expected {"api": "…", "token": "…"})`);
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(EXIT.usage, `the CLI config ${path}: ${issue?.path.join('.') || 'the file'} ${issue?.message ?? 'is not valid'} (expected {"api": "…", "token": "…"})`);
  }
  if (parsed.data.token !== undefined && ((await stat(path)).mode & 0o077) !== 0) {
    warn(`warning: ${path} holds a token and others may read it (chmod 600 ${path})`);
  }
  return parsed.data;
}

/** The nearest `.slipway/dev-tokens` from `cwd` up, as `npm start` writes it. */
export async function findDevTokens(cwd: string): Promise<{ path: string; tokens: Partial<Record<Role, string>> } | undefined> {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const path = join(dir, '.slipway', 'dev-tokens');
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return { path, tokens: parseDevTokens(text) };
    if (dirname(dir) === dir) return undefined;
  }
}

/** `requester=…` and `approver=…` lines; anything else is ignored. */
export function parseDevTokens(text: string): Partial<Record<Role, string>> {
  const tokens: Partial<Record<Role, string>> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*(requester|approver)\s*=\s*(\S+)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) tokens[match[1] as Role] = match[2];
  }
  return tokens;
}

/** The API's base URL: --api, SLIPWAY_API, the config file, the default. */
export function resolveApi(flag: string | undefined, where: Surroundings, file: ConfigFile | undefined): URL {
  const [value, source] =
    flag !== undefined ? [flag, '--api'] : where.env.SLIPWAY_API ? [where.env.SLIPWAY_API, 'SLIPWAY_API'] : file?.api !== undefined ? [file.api, 'the CLI config'] : [DEFAULT_API, 'the default'];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(EXIT.usage, `${source} "${value}" is not a URL (e.g. ${DEFAULT_API})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(EXIT.usage, `${source} "${value}" is not an http(s) URL (e.g. ${DEFAULT_API})`);
  }
  // A base path (https://host/slipway) keeps its last segment when routes are resolved against it.
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * The token: `--as <role>` reads that role from .slipway/dev-tokens; otherwise SLIPWAY_TOKEN,
 * the config file, then the dev-tokens' requester.
 */
export async function resolveToken(as: Role | undefined, where: Surroundings, file: ConfigFile | undefined): Promise<{ token: string; source: string }> {
  if (as === undefined) {
    const fromEnv = where.env.SLIPWAY_TOKEN?.trim();
    if (fromEnv) return { token: fromEnv, source: 'SLIPWAY_TOKEN' };
    if (file?.token !== undefined) return { token: file.token, source: configFilePath(where).path };
  }
  const dev = await findDevTokens(where.cwd);
  const role = as ?? 'requester';
  const token = dev?.tokens[role];
  if (dev !== undefined && token !== undefined) return { token, source: `${dev.path} (${role})` };
  if (as !== undefined) {
    throw new CliError(
      EXIT.forbidden,
      dev === undefined
        ? `--as ${as} reads .slipway/dev-tokens, which \`npm start\` writes into its checkout, and there is none in ${where.cwd} or above; set SLIPWAY_TOKEN to the ${as}'s token instead`
        : `${dev.path} has no ${as}= line; set SLIPWAY_TOKEN to the ${as}'s token instead`,
    );
  }
  throw new CliError(EXIT.forbidden, `no API token: ${TOKEN_SOURCES}`);
}

export async function resolveTarget(flags: { api?: string; as?: Role }, where: Surroundings, warn: (line: string) => void): Promise<Target> {
  const file = await readConfigFile(where, warn);
  const api = resolveApi(flags.api, where, file);
  const { token, source } = await resolveToken(flags.as, where, file);
  return { api, token, tokenSource: source };
}
