/** The CNCF distribution registry (the reference OCI registry), built once from the Go module proxy. */
import { ensureGoTool, reportedVersion } from './goInstall';

export const REGISTRY_VERSION = 'v3.1.2';

/** Path of a `registry` binary of the pinned version, building it if none is found. */
export function ensureRegistry(log: (line: string) => void = console.log): Promise<string> {
  return ensureGoTool(
    {
      name: 'registry',
      module: 'github.com/distribution/distribution/v3/cmd/registry',
      version: REGISTRY_VERSION,
      versionOf: (binary) => reportedVersion(binary, ['--version'], /\s(v\d+\.\d+\.\d+)(?:[+\s]|$)/),
    },
    log,
  );
}

if (require.main === module) {
  ensureRegistry()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
