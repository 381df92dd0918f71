/** What `slipway` exits with: scripts branch on these, so they never change meaning. */
import type { RunStatus } from '../workflows/state';

export const EXIT = {
  ok: 0,
  /** A bug or an answer the CLI does not understand. */
  unexpected: 1,
  /** Bad arguments, or the API refused the input (400). */
  usage: 2,
  notFound: 3,
  /** No token, an unknown token (401), or not allowed (403). */
  forbidden: 4,
  conflict: 5,
  /** The API cannot be reached, did not answer in time, or failed (5xx). */
  unavailable: 6,
  runFailed: 10,
  runRolledBack: 11,
  runCancelled: 12,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The help text's table of exit codes, kept beside the codes it describes. */
export const EXIT_CODES_HELP = `Exit codes:
  0   success (watch: the run succeeded)
  1   unexpected error
  2   rejected input: bad arguments, or the API answered 400
  3   not found: unknown run, gate or evidence (404)
  4   no token, or the token is unknown or not allowed (401, 403)
  5   conflict: the gate is not pending, the run has ended, production is
      already frozen or not frozen, the run is not held by a freeze (409)
  6   the API is unreachable, timed out, or failed (5xx)
  10  watch: the run failed
  11  watch: the run was rolled back
  12  watch: the run was cancelled`;

/** A failure the person can act on: one line for stderr, and the exit code that classifies it. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code for an HTTP error status from the API. */
export function exitCodeForHttp(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.forbidden;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status >= 500) return EXIT.unavailable;
  if (status >= 400) return EXIT.usage;
  return EXIT.unexpected;
}

/** The exit code for how a run ended; undefined while it is still going. */
export function exitCodeForOutcome(status: RunStatus): ExitCode | undefined {
  switch (status) {
    case 'succeeded':
      return EXIT.ok;
    case 'failed':
      return EXIT.runFailed;
    case 'rolled-back':
      return EXIT.runRolledBack;
    case 'cancelled':
      return EXIT.runCancelled;
    default:
      return undefined;
  }
}
