/**
 * Helm, installed by the project itself: reused from PATH when its version fits, else built
 * once with `go install` into the per-user cache (keyed by version), outside any checkout.
 */
import { ensureGoTool, reportedVersion } from './goInstall';

export const HELM_VERSION = '4.3.1';

/** Path of helm of the pinned version, building it if none is found. */
export function ensureHelm(log: (line: string) => void = console.log): Promise<string> {
  return ensureGoTool(
    {
      name: 'helm',
      module: 'helm.sh/helm/v4/cmd/helm',
      version: `v${HELM_VERSION}`,
      // What helm's own Makefile sets; without it `helm version` reports only "v4.3".
      ldflags: `-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION}`,
      env: { CGO_ENABLED: '0' },
      versionOf: (binary) => reportedVersion(binary, ['version', '--template', '{{.Version}}'], /^(v\S+)/),
    },
    log,
  );
}

if (require.main === module) {
  ensureHelm()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
