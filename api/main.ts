import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config/load';
import { configPath, fatal, logger } from '../config/runtime';
import { TokenBook } from './auth';
import { buildServer } from './server';

async function main(): Promise<void> {
  const config = await loadConfig(configPath());
  const tokens = TokenBook.parse(process.env.SLIPWAY_API_TOKENS);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const app = await buildServer({
    client,
    config,
    tokens,
    logger,
    ...(config.slack
      ? {
          slack: {
            ...(process.env[config.slack.signingSecretEnv] ? { signingSecret: process.env[config.slack.signingSecretEnv] } : {}),
            ...(process.env[config.slack.tokenEnv] ? { botToken: process.env[config.slack.tokenEnv] } : {}),
          },
        }
      : {}),
    ...(process.env.SLIPWAY_TEMPORAL_UI_URL ? { temporalUiUrl: process.env.SLIPWAY_TEMPORAL_UI_URL } : {}),
  });
  const port = process.env.SLIPWAY_API_PORT ? Number(process.env.SLIPWAY_API_PORT) : config.api.port;
  if (config.slack && !process.env[config.slack.signingSecretEnv]) {
    logger.warn({ variable: config.slack.signingSecretEnv }, 'slack is configured but its signing secret is unset: /slack/interactions answers 503');
  }
  await app.listen({ host: config.api.host, port });

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'api stopping');
    await app.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof Error && err.message.startsWith('SLIPWAY_API_TOKENS')) {
    console.error(`slipway: ${err.message}`);
    process.exit(1);
  }
  fatal(err);
});
