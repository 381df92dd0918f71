import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { SlipwayConfig } from '../config/schema';
import type { Identity, TokenBook } from './auth';
import { fromTemporal } from './errors';
import { instrumentServer, type ApiMetrics } from './metrics';
import { freezeRoutes } from './routes/freeze';
import { healthRoutes } from './routes/health';
import { rollbackRoutes } from './routes/rollback';
import { runRoutes } from './routes/runs';
import { slackRoutes } from './routes/slack';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

export interface ServerDeps {
  client: Client;
  config: SlipwayConfig;
  tokens: TokenBook;
  temporalUiUrl?: string;
  queryTimeoutMs?: number;
  /** Slack's signing secret and bot token, read from the environment by main.ts. */
  slack?: { signingSecret?: string; botToken?: string };
  /** Clock for Slack signature checks (tests). */
  now?: () => number;
  logger?: FastifyBaseLogger;
  /** Prometheus metrics served on GET /metrics (see api/metrics.ts). */
  metrics?: ApiMetrics;
}

/** No bearer token: health, metrics, the OpenAPI document, and Slack (which signs its requests instead). */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/slack/interactions']);

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  503: 'Service Unavailable',
};

/** Builds the HTTP API from explicit dependencies (tests use `app.inject`). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({ ...(deps.logger !== undefined ? { loggerInstance: deps.logger } : { logger: false }), bodyLimit: 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Slipway API', version: '0.1.0', description: 'Start feature runs, follow them, decide their gates.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  if (deps.metrics !== undefined) instrumentServer(app, deps.metrics);

  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PATHS.has(request.url.split('?')[0] ?? '')) return;
    const header = request.headers.authorization;
    const match = header !== undefined ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match?.[1] === undefined) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ statusCode: 401, error: 'Unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)' });
    }
    const identity = deps.tokens.identify(match[1]);
    if (identity === undefined) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: 'unknown bearer token' });
    }
    request.identity = identity;
  });

  app.setErrorHandler((err, request, reply) => {
    const send = (statusCode: number, message: string) =>
      reply.code(statusCode).send({ statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message });
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => `${err.validationContext ?? 'request'}${v.instancePath ? v.instancePath.replaceAll('/', '.') : ''}: ${v.message}`);
      return send(400, details.join('; '));
    }
    const statusCode = (err as { statusCode?: number }).statusCode;
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) return send(statusCode, (err as Error).message);
    const params = request.params as { id?: string } | undefined;
    const mapped = fromTemporal(err, params?.id ?? '?');
    if (mapped !== undefined) return send(mapped.statusCode, mapped.message);
    request.log.error({ err }, 'unexpected error');
    return send(503, 'the request could not be completed; the error is in the API log');
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await app.register(healthRoutes({ client: deps.client }));
  await app.register(
    runRoutes({
      client: deps.client,
      config: deps.config,
      queryTimeoutMs: deps.queryTimeoutMs ?? 5_000,
      ...(deps.temporalUiUrl !== undefined ? { temporalUiUrl: deps.temporalUiUrl } : {}),
    }),
  );
  await app.register(rollbackRoutes({ client: deps.client, config: deps.config, queryTimeoutMs: deps.queryTimeoutMs ?? 5_000 }));
  await app.register(freezeRoutes({ client: deps.client, config: deps.config, queryTimeoutMs: deps.queryTimeoutMs ?? 5_000, ...(deps.now ? { now: deps.now } : {}) }));
  await app.register(
    slackRoutes({
      client: deps.client,
      config: deps.config,
      ...(deps.slack?.signingSecret ? { signingSecret: deps.slack.signingSecret } : {}),
      ...(deps.slack?.botToken ? { botToken: deps.slack.botToken } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    }),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
