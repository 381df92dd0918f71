import pino from 'pino';
import { createActivities, type ActivityDeps } from '../../activities';

/** The real activities, built as the worker builds them, with test dependencies. */
export function testActivities(deps: Partial<ActivityDeps> = {}) {
  return createActivities({ logger: pino({ level: 'silent' }), promtool: process.env.SLIPWAY_TEST_PROMTOOL ?? 'promtool', namespace: 'default', ...deps });
}
