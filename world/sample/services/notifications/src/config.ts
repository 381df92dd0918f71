/** Settings from the environment, with the defaults a pod gets when it sets nothing. */
export interface ListenConfig {
  host: string;
  grpcPort: number;
  httpPort: number;
}

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number (0-65535), not ${JSON.stringify(raw)}`);
  return value;
}

export function listenConfig(): ListenConfig {
  return {
    // All interfaces, as in a container; the local world sets LISTEN_HOST=127.0.0.1.
    host: process.env.LISTEN_HOST || '0.0.0.0',
    grpcPort: port('SLIPWAY_PORT_GRPC', 50051),
    httpPort: port('SLIPWAY_PORT_HTTP', 8080),
  };
}
