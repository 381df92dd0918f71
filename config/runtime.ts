import pino from 'pino';
import { ConfigError } from './load';

/**
 * One structured logger for every process; never give it a secret or a whole prompt. JSON, one
 * event per line; `SLIPWAY_LOG_FORMAT=pretty` (set by `npm start` in a terminal) prints it for people.
 */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  redact: { paths: ['*.token', '*.apiKey', '*.authorization', 'req.headers.authorization', '*.password'], censor: '[redacted]' },
  ...(process.env.SLIPWAY_LOG_FORMAT === 'pretty'
    ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname', messageFormat: `${process.env.SLIPWAY_PROCESS_NAME ?? 'slipway'} · {msg}` } } }
    : {}),
});

export function configPath(): string {
  return process.env.SLIPWAY_CONFIG ?? 'slipway.config.yaml';
}

/** Ends a process on a start-up error with one clear line (the config error names its field). */
export function fatal(err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(`slipway: ${err.message}`);
  } else {
    logger.fatal({ err }, 'slipway: fatal error');
  }
  process.exit(1);
}
