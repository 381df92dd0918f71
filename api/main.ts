import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { loadConfig } from '../config/load';
import { configPath, fatal, logger } from '../config/runtime';
import { connectExplained, connectionOptions } from '../config/temporal';
import { setUpTracing } from '../config/tracing';
import { TokenBook } from './auth';
import { createApiMetrics } from './metrics';
import { buildServer } from './server';

async function main(): Promise<void> {
  const file = configPath();
  const config = await loadConfig(file);
  const temporal = config.temporal;
  const tokens = TokenBook.parse(process.env.SLIPWAY_API_TOKENS);
  const tracing = setUpTracing('slipway-api');
  const options = connectionOptions(temporal);
  const connection = await connectExplained(temporal, options, () => Connection.connect(options));
  // The interceptor carries the trace context into the workflow, so a run's spans share one trace.
  const client = new Client({ connection, namespace: temporal.namespace, interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } });
  const app = await buildServer({
    client,
    config,
    tokens,
    logger,
    metrics: createApiMetrics({ client }),
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
  const host = process.env.SLIPWAY_API_HOST ?? config.api.host;
  if (config.slack && !process.env[config.slack.signingSecretEnv]) {
    logger.warn({ variable: config.slack.signingSecretEnv }, 'slack is configured but its signing secret is unset: /slack/interactions answers 503');
  }
  await app.listen({ host, port });

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'api stopping');
    await app.close();
    await tracing.shutdown();
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
