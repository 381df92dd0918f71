import type { SlipwayConfig } from './schema';

/** Gates a run can stop at. `production` belongs to the environment marked as production. */
export const GATE_NAMES = ['spec', 'migration-review', 'manifest-review', 'production'] as const;
export type GateName = (typeof GATE_NAMES)[number];

export interface GateRule {
  required: boolean;
  /** Approver ids allowed to decide; empty means any identity with the approver role. */
  approvers: string[];
  deadlineMs: number;
}

export interface SoakRule {
  durationMs: number;
  intervalMs: number;
}

export interface EnvironmentRule {
  name: string;
  namespace: string;
  kubeContext?: string;
  /** Soak after each service's rollout; only environments that configure one soak. */
  soak?: SoakRule;
  gate: GateRule;
}

export interface AnalysisRule {
  /** Samples in a row that must fail (or lack data) before the soak ends. */
  consecutiveFailures: number;
  /** Samples in a row without an answer from Prometheus before the soak fails for it. */
  unreachableLimit: number;
}

export interface ServiceRule {
  name: string;
  hasDatabase: boolean;
  hasDeployment: boolean;
}

/**
 * The part of the config a run needs to make decisions, fixed when the run starts
 * so that editing the config never changes a running workflow's history.
 * Holds no secrets: only names of things.
 */
export interface RunPolicy {
  gates: Record<Exclude<GateName, 'production'>, GateRule>;
  services: ServiceRule[];
  /** In delivery order; the last one is production. */
  environments: EnvironmentRule[];
  analysis: AnalysisRule;
  /** The optional post-deploy watch after production. */
  watch?: SoakRule;
}

export function toRunPolicy(config: SlipwayConfig): RunPolicy {
  const gate = (g: { required: boolean; approvers: string[]; deadline: number }): GateRule => ({
    required: g.required,
    approvers: [...g.approvers],
    deadlineMs: g.deadline,
  });
  return {
    gates: {
      spec: gate(config.gates.spec),
      'migration-review': gate(config.gates.migrationReview),
      'manifest-review': gate(config.gates.manifestReview),
    },
    services: config.services.map((s) => ({
      name: s.name,
      hasDatabase: s.database !== undefined,
      hasDeployment: s.kubernetes !== undefined,
    })),
    environments: config.environments.map((e) => ({
      name: e.name,
      namespace: e.namespace,
      ...(e.kubeContext !== undefined ? { kubeContext: e.kubeContext } : {}),
      ...(e.soak !== undefined ? { soak: { durationMs: e.soak.duration, intervalMs: e.soak.interval } } : {}),
      gate: gate(e.gate),
    })),
    analysis: { consecutiveFailures: config.analysis.consecutiveFailures, unreachableLimit: config.analysis.unreachableLimit },
    ...(config.analysis.watch ? { watch: { durationMs: config.analysis.watch.duration, intervalMs: config.analysis.watch.interval } } : {}),
  };
}
