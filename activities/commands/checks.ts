/** How a check's exit becomes its status: pure rules, so they are tested without running anything. */
import type { PreDeployCheck } from '../../workflows/state';

/** What a finished command amounts to, whoever ran it. */
export interface CommandOutcome {
  code: number | null;
  timedOut: boolean;
  /** Why it did not run to its end (sandbox trouble, cancelled). */
  error?: string;
  output: string;
}

/**
 * Signs that an audit could not reach its vulnerability database, as npm, cargo-audit and
 * pip-audit print them. An audit that did not look is not a pass and not a finding either.
 */
export const AUDIT_UNAVAILABLE: readonly RegExp[] = [
  /audit endpoint returned an error/i,
  /\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED)\b/,
  // An HTTP status with its words ("405 Method Not Allowed") on a line about advisories.
  /\b(?:40\d|50\d) [A-Z][a-z]+.*advisor(?:y|ies)/,
  /(?:couldn't|could not|failed to|unable to) (?:fetch|open|load|update) (?:the )?advisory[- ]d(?:ata)?b(?:ase)?/i,
  /error fetching advisory/i,
];

export function ended(outcome: CommandOutcome): string {
  if (outcome.timedOut) return 'timed out';
  if (outcome.error !== undefined) return `did not complete (${outcome.error})`;
  return `exited ${outcome.code}`;
}

const passed = (outcome: CommandOutcome) => !outcome.timedOut && outcome.error === undefined && outcome.code === 0;

/** The first line of the output that says the audit's database was out of reach, if one does. */
export function auditUnavailableReason(output: string): string | undefined {
  const line = output.split('\n').find((l) => AUDIT_UNAVAILABLE.some((pattern) => pattern.test(l)));
  return line?.trim().slice(0, 300);
}

/**
 * A check's status. Tests block on any failure; an audit that could not reach its database is
 * `unavailable` (blocking unless config says optional); the outdated report never blocks: a
 * non-zero exit is how npm and cargo say "something is outdated".
 */
export function checkStatus(
  check: PreDeployCheck['check'],
  outcome: CommandOutcome,
  options: { auditUnavailable: 'required' | 'optional'; network: boolean },
): Pick<PreDeployCheck, 'status' | 'blocking' | 'reason'> {
  if (check === 'outdated') {
    if (passed(outcome)) return { status: 'pass', blocking: false };
    return { status: 'report', blocking: false, ...(outcome.code !== 1 ? { reason: `the report ${ended(outcome)}` } : {}) };
  }
  if (passed(outcome)) return { status: 'pass', blocking: true };
  if (check === 'audit') {
    const unreachable = outcome.timedOut ? 'the audit timed out' : auditUnavailableReason(outcome.output);
    if (unreachable !== undefined) {
      const hint = options.network ? '' : ' (the command had no network: add `audit` to sandbox.network.commands)';
      return { status: 'unavailable', blocking: options.auditUnavailable === 'required', reason: `audit unavailable: ${unreachable}${hint}` };
    }
  }
  return { status: 'fail', blocking: true, reason: `${check} ${ended(outcome)}` };
}
