import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';

export interface LintFinding {
  file: string;
  line: number;
  rule: string;
  level: 'error' | 'warning';
  message: string;
  help?: string;
  /** An error-level finding, or one of the configured blocking rules: the gate needs an explicit approval. */
  blocking: boolean;
}

interface SquawkViolation {
  file: string;
  line: number;
  level: string;
  message: string;
  help: string | null;
  rule_name: string;
}

const SQUAWK = join(dirname(require.resolve('squawk-cli/package.json')), 'js/bin/squawk');

/** Lints migration files with squawk (each is assumed to run inside a transaction, as Slipway runs them). */
export async function lintMigrations(files: string[], blockingRules: string[]): Promise<LintFinding[]> {
  if (files.length === 0) return [];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(SQUAWK, ['--reporter', 'json', '--assume-in-transaction', ...files], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      // squawk exits 1 when it found something; that is an answer, not a failure.
      if (err && (err as { code?: number }).code !== 1) reject(new Error(`squawk failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
  const violations = JSON.parse(output || '[]') as SquawkViolation[];
  return violations.map((v) => {
    const level = v.level.toLowerCase() === 'error' ? 'error' : 'warning';
    return {
      file: v.file,
      line: v.line + 1,
      rule: v.rule_name,
      level,
      message: v.message,
      ...(v.help ? { help: v.help } : {}),
      blocking: level === 'error' || blockingRules.includes(v.rule_name),
    };
  });
}
