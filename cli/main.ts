/** `slipway`: the command-line client of Slipway's HTTP API (see `slipway --help`). */
import { homedir } from 'node:os';
import { runCli } from './program';

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  home: homedir(),
}).then(
  // exitCode, not exit(): a piped stdout is flushed before the process ends.
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
