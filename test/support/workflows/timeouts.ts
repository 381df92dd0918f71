/** A test workflow that calls activities through Slipway's own proxies, so their timeout profiles are what is tested. */
import type { ServiceCommandsInput } from '../../../activities/commands';
import type { WriteSpecInput } from '../../../activities/agents';
import { agents, commands } from '../../../workflows/activities';

export async function longActivities(input: { tests: ServiceCommandsInput; spec: WriteSpecInput }): Promise<{ tests: boolean; spec: string }> {
  const [tests, spec] = await Promise.all([commands.runServiceTests(input.tests), agents.writeSpec(input.spec)]);
  return { tests: tests.ok, spec: spec.summary };
}
