/**
 * The settings a run acts on, resolved from config once when the run starts and carried in its
 * workflow input and activity inputs: editing slipway.config.yaml never changes a running run.
 * Holds no secrets, only the names of the variables that hold them. Types only come from the
 * config schema, so there is one source for each shape.
 */
import { expandApprovers } from './approverGroups';
import type { AnalysisConfig, EnvironmentConfig, FreezeWindowConfig, GatePolicy, LlmConfig, ObservabilityConfig, PrometheusConfig, RepositoryConfig, ServiceConfig, SlipwayConfig, WatchConfig } from './schema';

/** `approvals` is absent in runs started before approval policies (it means 1); `approvers` holds ids only (groups expanded). */
export type GateRule = Omit<GatePolicy, 'approvals' | 'overrideBy'> & { approvals?: number; overrideBy?: string[] };
export type ServiceSettings = ServiceConfig;
/** `soak.duration` and `soak.interval` are milliseconds. */
export type EnvironmentSettings = EnvironmentConfig;
export type AnalysisSettings = Omit<AnalysisConfig, 'watch'>;
export type RepositorySettings = RepositoryConfig;
export type LlmSettings = LlmConfig;
export type PrometheusSettings = PrometheusConfig;
export type ObservabilitySettings = ObservabilityConfig;
/** The post-deploy watch and its own thresholds; `duration` and `interval` are milliseconds. */
export type WatchSettings = WatchConfig;
/** A scheduled production freeze window (config/freezeWindows.ts says when it is open). */
export type FreezeWindowSettings = FreezeWindowConfig;

/** Gates config names; environment gates are named after their environment. */
export const CONFIGURED_GATES = ['spec', 'plan', 'tasks', 'implement', 'migration-review', 'manifest-review'] as const;
export type ConfiguredGate = (typeof CONFIGURED_GATES)[number];

export interface RunSettings {
  repository: RepositorySettings;
  services: ServiceSettings[];
  /** In delivery order; the last one is production. */
  environments: EnvironmentSettings[];
  gates: Record<ConfiguredGate, GateRule>;
  analysis: AnalysisSettings;
  /** The optional post-deploy watch after production. */
  watch?: WatchSettings;
  prometheus?: PrometheusSettings;
  migrations: { blockingRules: string[] };
  /** Without it, each agent's step is a person's (Slipway scaffolds, a gate waits, Slipway checks). */
  llm?: LlmSettings;
  /** Where built images go; without it (or a service's `build`) deployments use the manifests' image. */
  images?: ImagesSettings;
  /** Links for the summary report (Grafana). */
  observability?: ObservabilitySettings;
  /** Scheduled production freezes; absent for runs started before freezes existed. */
  freeze?: { windows: FreezeWindowSettings[] };
}

export type ImagesSettings = NonNullable<SlipwayConfig['images']>;

export function resolveRunSettings(config: SlipwayConfig): RunSettings {
  const { watch, ...analysis } = config.analysis;
  // A person's step always waits for that person; config only says who may confirm it and for how long.
  // A run carries who may decide each gate by id: editing a group later never changes a running run.
  const expand = <G extends { approvers: string[]; overrideBy?: string[] }>(gate: G): G => ({
    ...gate,
    approvers: expandApprovers(gate.approvers, config.approverGroups),
    ...(gate.overrideBy !== undefined ? { overrideBy: expandApprovers(gate.overrideBy, config.approverGroups) } : {}),
  });
  const personStep: GateRule = expand({ required: true, ...config.gates.personSteps });
  const environments = config.environments.map((e) => ({ ...e, gate: expand(e.gate) }));
  return structuredClone({
    repository: config.repository,
    services: config.services,
    environments: config.world !== undefined ? environments.map((e) => withWorldEndpoints(e, config.world?.dir ?? '')) : environments,
    gates: {
      spec: expand(config.gates.spec),
      plan: personStep,
      tasks: personStep,
      implement: personStep,
      'migration-review': expand(config.gates.migrationReview),
      'manifest-review': expand(config.gates.manifestReview),
    },
    analysis,
    ...(watch !== undefined ? { watch } : {}),
    ...(config.prometheus !== undefined ? { prometheus: config.prometheus } : {}),
    migrations: { blockingRules: config.migrations.blockingRules },
    ...(config.llm !== undefined ? { llm: config.llm } : {}),
    ...(config.images !== undefined ? { images: config.images } : {}),
    ...(config.observability !== undefined ? { observability: config.observability } : {}),
    freeze: { windows: config.freeze.windows },
  });
}

/**
 * In the local world, verification finds each Service where the world's proxy publishes it
 * (`<world.dir>/kubelet/services.json`, see world/README.md), unless config names another file.
 */
function withWorldEndpoints(environment: EnvironmentSettings, worldDir: string): EnvironmentSettings {
  if (environment.verification.endpoints.servicesFile !== undefined) return environment;
  return { ...environment, verification: { ...environment.verification, endpoints: { ...environment.verification.endpoints, servicesFile: `${worldDir.replace(/\/+$/, '')}/kubelet/services.json` } } };
}

/** The production environment: the last one in delivery order. */
export function productionOf(settings: Pick<RunSettings, 'environments'>): EnvironmentSettings {
  const production = settings.environments.at(-1);
  if (production === undefined) throw new Error('no environments configured');
  return production;
}
