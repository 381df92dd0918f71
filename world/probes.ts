/** httpGet and tcpSocket probes as a kubelet runs them, against the host ports a pod was given. */
import { connect } from 'node:net';
import type { V1Probe } from '@kubernetes/client-node';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

/** Maps a probe's port (number or name) to the host port the pod really listens on. */
export type PortResolver = (port: number | string) => number | undefined;

export async function runProbe(probe: V1Probe, resolve: PortResolver): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const port = resolve(probe.httpGet.port as number | string);
    if (port === undefined) return { ok: false, message: `probe port ${probe.httpGet.port} is not a port of this pod` };
    const scheme = (probe.httpGet.scheme ?? 'HTTP').toLowerCase();
    if (scheme !== 'http') return { ok: false, message: `probe scheme ${probe.httpGet.scheme} is not supported by the local kubelet` };
    const path = probe.httpGet.path ?? '/';
    const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`, { headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      await response.arrayBuffer().catch(() => undefined);
      // Kubernetes counts 200-399 as success.
      const ok = response.status >= 200 && response.status < 400;
      return { ok, message: ok ? '' : `HTTP probe failed with statuscode: ${response.status}` };
    } catch (err) {
      return { ok: false, message: `Get "http://127.0.0.1:${port}${path}": ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}` };
    }
  }
  if (probe.tcpSocket) {
    const port = resolve(probe.tcpSocket.port as number | string);
    if (port === undefined) return { ok: false, message: `probe port ${probe.tcpSocket.port} is not a port of this pod` };
    return new Promise((done) => {
      const socket = connect({ host: '127.0.0.1', port });
      const finish = (result: ProbeResult) => {
        socket.destroy();
        done(result);
      };
      socket.setTimeout(timeoutMs, () => finish({ ok: false, message: `dial tcp 127.0.0.1:${port}: i/o timeout` }));
      socket.once('connect', () => finish({ ok: true, message: '' }));
      socket.once('error', (err) => finish({ ok: false, message: `dial tcp 127.0.0.1:${port}: ${err.message}` }));
    });
  }
  return { ok: false, message: 'only httpGet and tcpSocket probes are supported by the local kubelet' };
}
