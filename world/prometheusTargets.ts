/**
 * Prometheus file_sd targets for the pods the local kubelet runs, from the usual annotations:
 * prometheus.io/scrape "true", prometheus.io/port (name or number), prometheus.io/path (/metrics).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { writeFileAtomic } from './atomicFile';
import type { PortResolver } from './probes';

export interface ScrapeTarget {
  /** 127.0.0.1:<host port> */
  address: string;
  path: string;
  labels: { namespace: string; service: string; pod: string; image: string };
}

/** The target of a running pod, or undefined when it asks not to be scraped or names no port it has. */
export function scrapeTarget(pod: V1Pod, resolve: PortResolver, imageOf: (container: string) => string | undefined): ScrapeTarget | undefined {
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations['prometheus.io/scrape'] !== 'true') return undefined;
  const containers = pod.spec?.containers ?? [];
  const declared = annotations['prometheus.io/port'];
  const wanted: number | string | undefined = declared === undefined ? containers[0]?.ports?.[0]?.containerPort : /^\d+$/.test(declared) ? Number(declared) : declared;
  if (wanted === undefined) return undefined;
  const port = resolve(wanted);
  if (port === undefined) return undefined;
  // The image label names the container that declares the scraped port, else the first container.
  const owner = containers.find((c) => c.ports?.some((p) => p.name === wanted || p.containerPort === wanted)) ?? containers[0];
  const labels = pod.metadata?.labels ?? {};
  return {
    address: `127.0.0.1:${port}`,
    path: annotations['prometheus.io/path'] || '/metrics',
    labels: {
      namespace: pod.metadata?.namespace ?? 'default',
      service: labels.app ?? labels['app.kubernetes.io/name'] ?? '',
      pod: pod.metadata?.name ?? '',
      image: (owner && imageOf(owner.name)) ?? owner?.image ?? '',
    },
  };
}

/** Writes `targets` as one file_sd JSON file, atomically, and only when it changed. */
export class TargetsFile {
  private written: string | undefined;

  constructor(readonly file: string) {}

  async write(targets: ScrapeTarget[]): Promise<void> {
    const groups = [...targets]
      .sort((a, b) => (`${a.labels.namespace}/${a.labels.pod}` < `${b.labels.namespace}/${b.labels.pod}` ? -1 : 1))
      .map((t) => ({ targets: [t.address], labels: { __metrics_path__: t.path, ...t.labels } }));
    const text = JSON.stringify(groups, null, 2) + '\n';
    if (text === this.written) return;
    await writeFileAtomic(this.file, text);
    this.written = text;
  }
}
