/** crane (go-containerregistry's registry client): builds, pushes and pulls images without a Docker engine. */
import { ensureGoTool, reportedVersion } from './goInstall';

export const CRANE_VERSION = 'v0.22.1';

/** Path of a `crane` binary of the pinned version, building it if none is found. */
export function ensureCrane(log: (line: string) => void = console.log): Promise<string> {
  return ensureGoTool(
    {
      name: 'crane',
      module: 'github.com/google/go-containerregistry/cmd/crane',
      version: CRANE_VERSION,
      versionOf: (binary) => reportedVersion(binary, ['version'], /^(v?\d+\.\d+\.\d+)\b/m).then((v) => (v === undefined || v.startsWith('v') ? v : `v${v}`)),
    },
    log,
  );
}

if (require.main === module) {
  ensureCrane()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
