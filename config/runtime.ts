import pino from 'pino';
import { ConfigError } from './load';

/** One structured logger for every process; never give it a secret or a whole prompt. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  redact: { paths: ['*.token', '*.apiKey', '*.authorization', 'req.headers.authorization', '*.password'], censor: '[redacted]' },
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
