/** The pre-deploy checks and verifications as people read them: at the production gate and in the timeline. Pure. */
import { clipTail, type PreDeployCheck, type Verification } from './state';

const NAMES: Record<PreDeployCheck['check'], string> = { predeploy: 'predeploy', test: 'tests', audit: 'audit', outdated: 'outdated' };

function verdict(check: PreDeployCheck): string {
  switch (check.status) {
    case 'pass':
      return check.check === 'outdated' ? 'nothing outdated' : 'passed';
    case 'report':
      return 'see below';
    case 'unavailable':
      return `${check.reason ?? 'unavailable'}${check.blocking ? '' : ' (optional: not blocking)'}`;
    case 'fail':
      return `FAILED: ${check.reason ?? 'failed'}`;
  }
}

/**
 * What the production gate shows of the checks: one line per service, then each outdated-dependency
 * report (recorded, never blocking). Bounded, so several services still fit the gate's summary.
 */
export function checksForGate(checks: PreDeployCheck[], maxReport = 1_200): string {
  if (checks.length === 0) return '';
  const services = [...new Set(checks.map((c) => c.service))];
  const lines = ['Checks before production:'];
  for (const service of services) {
    const own = checks.filter((c) => c.service === service);
    lines.push(`- ${service}: ${own.map((c) => `${NAMES[c.check]} ${verdict(c)}`).join('; ')}`);
  }
  const reports = checks.filter((c) => c.check === 'outdated' && c.status === 'report');
  for (const report of reports) {
    lines.push('', `Outdated dependencies of ${report.service} (\`${report.command}\`${report.reason ? `; ${report.reason}` : ''}):`, '```', clipTail(report.output, maxReport) || '(no output)', '```');
  }
  return lines.join('\n');
}

/** A verification's timeline line: its command, how it ended, and the tail of its output. */
export function verificationDetail(verification: Verification, max: number): string {
  // A failure's reason already names the command and how it ended.
  const outcome = verification.status === 'passed' ? `\`${verification.command}\` passed` : (verification.reason ?? `\`${verification.command}\` failed`);
  const head = `${outcome}${verification.ms !== undefined ? ` after ${(verification.ms / 1000).toFixed(1)} s` : ''}`;
  const output = verification.output?.trim();
  if (output === undefined || output === '') return head;
  // A pass needs only its count; a failure keeps the output's end, where the failing test is.
  const summary = verification.status === 'passed' ? testSummary(output) : undefined;
  if (summary !== undefined) return clipTail(`${head}: ${summary}`, max);
  return `${head}\n${clipTail(output, Math.max(0, max - head.length - 1))}`;
}

/** The count a test runner prints at its end: node's TAP summary (`# tests 4`, `# pass 4` …) or jest's `Tests:` line. */
export function testSummary(output: string): string | undefined {
  const tap = (key: string) => output.match(new RegExp(`^# ${key} (\\d+)\\s*$`, 'm'))?.[1];
  const tests = tap('tests');
  if (tests !== undefined) return `${tests} tests, ${tap('pass') ?? '0'} passed, ${tap('fail') ?? '0'} failed`;
  return output.match(/^Tests:\s+(.+?)\s*$/m)?.[1];
}
