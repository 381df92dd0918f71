/**
 * The world's Prometheus: a fixed loopback port, its TSDB under the world dir (kept across
 * restarts), scraping the pods the local kubelet lists in targets/*.json (file_sd).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startPrometheus, type RunningPrometheus } from '../scripts/prometheus';

export interface WorldPrometheusOptions {
  /** From scripts/prometheus.ts ensurePrometheus. */
  binary: string;
  /** Holds prometheus.yml, data/ (the TSDB), prometheus.log and targets/. */
  dir: string;
  port: number;
  /** Default 5s. */
  scrapeInterval?: string;
  detached?: boolean;
}

/** The folder whose *.json files list the scrape targets; the kubelet writes pods.json there. */
export const targetsDir = (prometheusDir: string) => join(prometheusDir, 'targets');

export async function startWorldPrometheus(options: WorldPrometheusOptions): Promise<RunningPrometheus> {
  await mkdir(targetsDir(options.dir), { recursive: true });
  return startPrometheus(options.binary, [], {
    dir: options.dir,
    port: options.port,
    scrapeInterval: options.scrapeInterval ?? '5s',
    fileSd: [{ job: 'pods', files: [join(targetsDir(options.dir), '*.json')], refreshInterval: '5s' }],
    detached: options.detached ?? false,
  });
}
