import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { slipwayConfigSchema, type SlipwayConfig } from './schema';

/** A config file that cannot be used; the message names the file, the field and why. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function formatIssues(file: string, issues: z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `  - ${field}: ${issue.message}`;
  });
  return `invalid config ${file}:\n${lines.join('\n')}`;
}

/** Validates an already-parsed config object. */
export function parseConfig(raw: unknown, file = 'config'): SlipwayConfig {
  const result = slipwayConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(file, result.error.issues));
  return result.data;
}

/** Reads and validates slipway.config.yaml (or the file given). */
export async function loadConfig(file: string): Promise<SlipwayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file ${file} not found (copy slipway.config.example.yaml to slipway.config.yaml, or set SLIPWAY_CONFIG)`
        : `cannot read config file ${file}: ${(err as Error).message}`,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`invalid YAML in ${file}:\n${doc.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  const config = parseConfig(doc.toJS(), file);
  // Relative paths in the file mean "next to the file", whatever directory a process starts in.
  const base = dirname(resolve(file));
  config.repository.path = resolve(base, config.repository.path);
  config.repository.worktreesDir = resolve(base, config.repository.worktreesDir);
  for (const mount of config.sandbox.cacheMounts) mount.path = resolve(base, mount.path);
  if (config.world !== undefined) config.world.dir = resolve(base, config.world.dir);
  for (const { verification } of config.environments) {
    if (verification.endpoints.servicesFile !== undefined) verification.endpoints.servicesFile = resolve(base, verification.endpoints.servicesFile);
  }
  return config;
}
