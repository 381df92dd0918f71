import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const health = z.object({ ok: z.boolean(), temporal: z.string().optional() });

export const healthRoutes = (deps: { client: Client }): FastifyPluginAsyncZod =>
  async function routes(app) {
    app.get('/healthz', { schema: { summary: 'The API process is up', response: { 200: health } } }, async () => ({ ok: true }));

    app.get(
      '/readyz',
      { schema: { summary: 'Temporal is reachable', response: { 200: health, 503: health } } },
      async (_request, reply) => {
        try {
          await deps.client.withDeadline(Date.now() + 3_000, () => deps.client.connection.workflowService.getSystemInfo({}));
          return { ok: true, temporal: 'reachable' };
        } catch (err) {
          return reply.code(503).send({ ok: false, temporal: `unreachable: ${(err as Error).message}` });
        }
      },
    );
  };
