/** `slipway watch`: follows a run through the API until it ends. */
import { TERMINAL_STATUSES, type RunState } from '../workflows/state';
import type { ApiClient } from './apiClient';
import { CliError, EXIT } from './exitCodes';
import type { LiveView, Output } from './terminal';

export interface WatchOptions {
  intervalMs: number;
  sleep: (ms: number) => Promise<void>;
  /** JSON lines on `out`, one per change; otherwise `view` shows `render(state)`. */
  json: boolean;
  out: Output;
  view: LiveView;
  render: (state: RunState) => string[];
  /** Polls in a row the API may miss (restarting, Temporal briefly away) before the watch gives up. */
  toleratedFailures?: number;
}

/** Polls the run until it ends; returns its final state. */
export async function watchRun(api: ApiClient, runId: string, options: WatchOptions): Promise<RunState> {
  let printed: string | undefined;
  let failures = 0;
  for (;;) {
    let reply: Awaited<ReturnType<ApiClient['run']>>;
    try {
      reply = await api.run(runId);
      failures = 0;
    } catch (err) {
      if (err instanceof CliError && err.exitCode === EXIT.unavailable && ++failures < (options.toleratedFailures ?? 10)) {
        await options.sleep(options.intervalMs);
        continue;
      }
      throw err;
    }
    const state = reply.body;
    if (options.json) {
      // One line per state: the API's JSON, re-serialised only if it ever spans lines.
      const line = reply.text.includes('\n') ? JSON.stringify(JSON.parse(reply.text)) : reply.text;
      if (line !== printed) options.out.write(`${line}\n`);
      printed = line;
    } else {
      options.view.show(options.render(state));
    }
    if (TERMINAL_STATUSES.includes(state.status)) return state;
    await options.sleep(options.intervalMs);
  }
}
