import type { DevServer } from '../../scripts/temporal';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { slipwayTemporal?: DevServer }).slipwayTemporal?.stop();
}
