# syntax=docker/dockerfile:1
# One image for both Slipway processes: `worker` (default command `api`). Compiled TypeScript,
# the workflow code bundled at build time, production dependencies only, a non-root user.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PROMETHEUS_IMAGE=prom/prometheus:v3.5.0

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY config config
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY api api
COPY scripts scripts
# tsc to dist/, then bundleWorkflowCode to dist/workflow-bundle.js (the worker loads it instead of bundling at start).
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# promtool checks the alert rules a run writes (the observability phase); copied, not installed.
FROM ${PROMETHEUS_IMAGE} AS prometheus

FROM ${NODE_IMAGE} AS runtime
# git: the run's worktrees; bubblewrap: the sandbox for commands from the branch; tini: signals and zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap ca-certificates tini openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 slipway \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/slipway --create-home --shell /usr/sbin/nologin slipway
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=prometheus /bin/promtool /usr/local/bin/promtool
COPY deploy/docker/slipway ./bin/slipway
ENV NODE_ENV=production \
    SLIPWAY_CONFIG=/etc/slipway/slipway.config.yaml \
    SLIPWAY_CACHE_DIR=/var/lib/slipway/cache \
    SLIPWAY_PROMTOOL=/usr/local/bin/promtool \
    SLIPWAY_API_HOST=0.0.0.0 \
    SLIPWAY_WORKER_METRICS_ADDRESS=0.0.0.0:9464 \
    SLIPWAY_SDK_METRICS_ADDRESS=0.0.0.0:9465 \
    HOME=/var/lib/slipway
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# API, worker metrics + /healthz, Temporal SDK metrics.
EXPOSE 8080 9464 9465
VOLUME ["/var/lib/slipway"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/slipway"]
CMD ["api"]
