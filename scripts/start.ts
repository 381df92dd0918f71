/**
 * `npm start`: the local world (with the example config), the Temporal dev server, the worker and
 * the API, each with a progress line; Ctrl-C stops them all, in reverse order.
 */
import { chooseConfig, startStack, type Stack } from './stack';

let stack: Stack | undefined;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nslipway: stopping ...');
    await stack?.stop();
  }
  process.exit(code);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  const configFile = chooseConfig(console.log);
  stack = await startStack({
    configFile,
    progress: (line) => console.log(line),
    onExit: (what) => {
      console.error(`slipway: ${what}; stopping everything`);
      void stopAll(1);
    },
    pretty: process.stdout.isTTY === true && process.env.NODE_ENV !== 'production',
  });
  const { api, tokens, world } = stack;
  console.log(`
slipway is up
  API          ${api}   (OpenAPI: ${api}/openapi.json)
  Temporal UI  ${stack.uiUrl ?? '-'}
${world ? `  Prometheus   ${world.world.prometheusUrl}\n  Sample repo  ${world.sample.path} (remote ${world.sample.remoteUrl})\n` : ''}${tokens.file ? `  API tokens   ${tokens.file} (identities "dev" = requester, "lead" = approver)\n` : ''}
See a feature delivered end to end (in another terminal):  npm run demo
Or start a run yourself, and follow it:
  npx slipway start "Add real-time notifications when users receive new messages"
  npx slipway watch <run>
Ctrl-C stops everything.
`);
}

main().catch(async (err: Error) => {
  console.error(`slipway: ${err.message}`);
  await stopAll(1);
});
