import { z } from 'zod';

/** Names an environment variable; its value is read from Slipway's environment when a command starts. */
const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be the NAME of an environment variable');

const GiB = 1024 ** 3;

/** Per-command resource limits (setrlimit inside the sandbox; they apply to every process of the command). */
export const sandboxLimitsSchema = z.object({
  /** CPU seconds per process (RLIMIT_CPU); the wall-clock timeout bounds the command as a whole. */
  cpuSeconds: z.number().int().positive().prefault(1800),
  /** Writable memory per process (RLIMIT_DATA: heap and anonymous mappings, not reserved address space, so Node and Go still start). */
  memoryBytes: z.number().int().positive().prefault(4 * GiB),
  /** Processes and threads of the sandbox user (RLIMIT_NPROC); stops fork bombs. */
  processes: z.number().int().positive().prefault(1024),
  /** Largest file a command may write (RLIMIT_FSIZE). */
  fileSizeBytes: z.number().int().positive().prefault(GiB),
  /** Size of the sandbox's private /tmp (a tmpfs, so it is memory). */
  tmpBytes: z.number().int().positive().prefault(GiB),
});

/**
 * `sandbox:` in slipway.config.yaml: how commands from a run's branch (tests, builds, audits,
 * verification) and the agents' `run_command` are confined.
 */
export const sandboxSchema = z.object({
  /**
   * `bubblewrap` (default): every such command runs under bwrap, and agent and command activities
   * refuse to run (SandboxUnavailable) when it cannot. `none` runs them as Slipway's own user with
   * its network: only for a throwaway machine; it is logged loudly and shown in every run's report.
   */
  mode: z.enum(['bubblewrap', 'none']).prefault('bubblewrap'),
  /** The user and group commands run as when Slipway runs as root (the worktree is handed to them). */
  uid: z.number().int().min(1).max(2 ** 32 - 2).prefault(65534),
  gid: z.number().int().min(1).max(2 ** 32 - 2).prefault(65534),
  network: z
    .object({
      /**
       * Service command names (keys of `services[].commands`, e.g. `predeploy`) that get the host's
       * network. Everything else, and the agents' run_command, has none. bwrap cannot filter by
       * host: a command with the network reaches everything the worker can, so keep this short.
       */
      commands: z.array(z.string().min(1)).prefault([]),
    })
    .prefault({}),
  /** Host variables passed into commands by name (besides PATH, HOME and LANG); never secrets. */
  env: z.array(envVarName).prefault([]),
  /** Host folders mounted read-only at the same path (language toolchains and caches, e.g. /opt/go). */
  readOnlyMounts: z.array(z.string().startsWith('/', 'must be an absolute path')).prefault([]),
  /**
   * Language caches mounted writable at the same path (relative paths are next to the config file),
   * each optionally named to commands by a variable, e.g. { path: .slipway/world/npm-cache, env: NPM_CONFIG_CACHE }
   * for `npm ci --offline`. A command can write there: keep only caches whose entries are checked on use
   * (npm verifies each package against the lock's integrity).
   */
  cacheMounts: z.array(z.object({ path: z.string().min(1), env: envVarName.optional() })).prefault([]),
  limits: sandboxLimitsSchema.prefault({}),
});

export type SandboxSettings = z.infer<typeof sandboxSchema>;
export type SandboxLimits = z.infer<typeof sandboxLimitsSchema>;

/** The defaults, for callers whose config has no `sandbox:` section yet. */
export const defaultSandboxSettings = (): SandboxSettings => sandboxSchema.parse({});
