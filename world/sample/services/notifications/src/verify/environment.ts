/**
 * The deployed environment a verification runs against, from the variables Slipway passes in:
 * the ones Kubernetes gives a pod for each Service (MESSAGES_SERVICE_HOST,
 * MESSAGES_SERVICE_PORT_GRPC, …), SLIPWAY_ENVIRONMENT, SLIPWAY_RUN and DATABASE_URL.
 */
export function serviceAddress(service: string, port: 'grpc' | 'http', env: NodeJS.ProcessEnv = process.env): string {
  const prefix = service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const host = env[`${prefix}_SERVICE_HOST`];
  const number = env[`${prefix}_SERVICE_PORT_${port.toUpperCase()}`];
  if (!host || !number) throw new Error(`${prefix}_SERVICE_HOST and ${prefix}_SERVICE_PORT_${port.toUpperCase()} are not set: run this against a deployed environment (Slipway sets them)`);
  return `${host}:${number}`;
}

export const environmentName = (): string => process.env.SLIPWAY_ENVIRONMENT ?? 'an environment';

/** Ids this run's checks use (at most 64 characters), so they never collide with real users or another run's checks. */
export function checkUser(role: string): string {
  const run = (process.env.SLIPWAY_RUN ?? 'local').replace(/[^A-Za-z0-9-]/g, '-').slice(-24);
  return `chk-${run}-${role.slice(0, 9)}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`;
}

/** Polls `probe` until it returns a value, for at most `ms`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
