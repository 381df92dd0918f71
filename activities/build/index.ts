import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { ImagesSettings, ServiceSettings } from '../../config/settings';
import type { ImageRecord, Workspace } from '../../workflows/state';
import { buildLocalImage, imageDigest } from '../../world/images';
import { whileHeartbeating } from '../heartbeat';
import { verifiedGitDirHint, worktreeGit } from '../repo/git';
import { runConfined } from '../sandbox/confined';
import { kindOf } from '../sandbox/worktreeFs';

export interface BuildImageInput {
  runId: string;
  service: ServiceSettings;
  workspace: Workspace;
  images: ImagesSettings;
}

const STEP_TIMEOUT_MS = 30 * 60_000;

/** `crane` is located at start-up; `sandbox` is the worker's. */
export function createBuildActivities(deps: { logger: Logger; sandbox?: SandboxSettings; crane?: string }) {
  const sandbox = deps.sandbox ?? defaultSandboxSettings();
  const crane = () => {
    if (deps.crane === undefined) throw ApplicationFailure.nonRetryable('crane is not available to this worker: images cannot be built or found (start the worker with npm start, or put crane on PATH)', 'CraneMissing');
    return deps.crane;
  };

  /** One command of the build, sandboxed; a failure stops the run before anything is deployed, with the output. */
  async function step(input: BuildImageInput, what: string, command: string, options: { network: boolean; env?: Record<string, string> }): Promise<void> {
    let signal: AbortSignal | undefined;
    try {
      signal = Context.current().cancellationSignal;
    } catch {
      signal = undefined;
    }
    const result = await runConfined(
      sandbox,
      {
        command,
        worktree: input.workspace.path,
        cwd: input.workspace.path,
        env: { SLIPWAY_RUN: input.runId, ...options.env },
        network: options.network,
        timeoutMs: STEP_TIMEOUT_MS,
        outputCapBytes: 8 * 1024,
        ...(signal !== undefined ? { signal } : {}),
      },
      deps.logger,
    );
    if (!result.timedOut && result.error === undefined && result.code === 0) return;
    const ended = result.timedOut ? 'timed out' : result.error !== undefined ? `did not complete (${result.error})` : `exited ${result.code}`;
    const tail = result.output.trimEnd().split('\n').slice(-20).join('\n');
    throw ApplicationFailure.nonRetryable(`building ${input.service.name}: ${what} \`${command}\` ${ended}\n${tail}`, 'BuildFailed');
  }

  return {
    /**
     * The run's image of one service, from its branch's commit: the service's setup and build
     * commands (sandboxed), then either its build command (which pushes `{{image}}`) or Slipway's
     * own packing of the built files with crane. Tagged with the commit, recorded by digest. A
     * retry finds the image already pushed for this commit and builds nothing twice.
     */
    async buildImage(input: BuildImageInput): Promise<ImageRecord> {
      const { service, workspace, images } = input;
      const build = service.build;
      if (build === undefined) throw ApplicationFailure.nonRetryable(`service ${service.name} has no build section in config: no image can be made for it`, 'NoBuild');
      const git = worktreeGit({ gitDir: workspace.gitDir ?? (await verifiedGitDirHint(workspace.path)), worktree: workspace.path });
      const commit = (await git.revparse(['HEAD'])).trim();
      const reference = `${images.registry}/${service.name}:${commit}`;
      const pushed = await imageDigest(crane(), reference).catch(() => undefined);
      if (pushed !== undefined) return { service: service.name, reference, digest: pushed, commit };

      return whileHeartbeating(
        async () => {
          for (const name of ['setup', 'build'] as const) {
            const command = service.commands[name];
            if (command !== undefined) await step(input, name, command, { network: false });
          }
          if (build.command !== undefined) {
            // A real builder (docker buildx, ko, a CI trigger) pushes the image itself, so it gets the network.
            await step(input, 'image build', build.command.replaceAll('{{image}}', reference), { network: true, env: { IMAGE: reference } });
            const digest = await imageDigest(crane(), reference).catch((err: Error) => {
              throw ApplicationFailure.nonRetryable(`building ${service.name}: the build command finished but ${reference} is not in the registry (${err.message})`, 'BuildFailed');
            });
            return { service: service.name, reference, digest, commit };
          }
          const layers = [];
          for (const layer of build.layers ?? []) {
            // Slipway reads these folders to pack them: they must be real folders of the worktree, not symlinks out of it.
            const kind = await kindOf(workspace.path, layer.from).catch((err: Error) => `refused (${err.message})`);
            if (kind !== 'folder') throw ApplicationFailure.nonRetryable(`building ${service.name}: ${layer.from} is not a folder of the worktree (${kind}); did the build command make it?`, 'BuildFailed');
            layers.push({ from: `${workspace.path}/${layer.from}`, to: layer.to, ...(layer.include ? { include: layer.include } : {}) });
          }
          const image = await buildLocalImage({
            crane: crane(),
            registry: images.registry,
            repository: service.name,
            tag: commit,
            layers,
            entrypoint: build.entrypoint ?? [],
            ...(build.workingDir !== undefined ? { workingDir: build.workingDir } : {}),
            env: build.env,
          });
          deps.logger.info({ runId: input.runId, service: service.name, image: image.pinned }, 'image pushed');
          return { service: service.name, reference, digest: image.digest, commit };
        },
        () => ({ service: service.name }),
      );
    },
  };
}
export type BuildActivities = ReturnType<typeof createBuildActivities>;
