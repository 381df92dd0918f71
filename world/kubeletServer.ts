/**
 * The part of a kubelet's HTTPS server that `kubectl logs` reaches through the API server:
 * /containerLogs/<namespace>/<pod>/<container> with tailLines, limitBytes, previous and follow.
 * exec, attach, port-forward and metrics answer 404: the local kubelet runs no containers.
 */
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';

/** Where a container's log is, or why there is none. */
export type LogLookup = { file: string; running(): boolean } | { status: number; message: string };

export interface KubeletServerOptions {
  port: number;
  /** PEM; the API server does not verify the kubelet's certificate unless told to. */
  cert: string;
  key: string;
  logs(namespace: string, pod: string, container: string | undefined, previous: boolean): LogLookup;
}

export async function startKubeletServer(options: KubeletServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const follows = new Set<ServerResponse>();
  const server: Server = createServer({ cert: options.cert, key: options.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (url.pathname === '/healthz') return void res.end('ok');
    if (!match || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`${url.pathname} is not served by the local kubelet (only /containerLogs)`);
      return;
    }
    const [, namespace, pod, container] = match.map((part) => (part === undefined ? undefined : decodeURIComponent(part)));
    const found = options.logs(namespace!, pod!, container, url.searchParams.get('previous') === 'true');
    if ('status' in found) {
      res.writeHead(found.status, { 'content-type': 'text/plain' }).end(found.message);
      return;
    }
    void serveLog(res, found, url.searchParams, follows).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  return {
    port: options.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of follows) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serveLog(res: ServerResponse, log: { file: string; running(): boolean }, query: URLSearchParams, follows: Set<ServerResponse>): Promise<void> {
  let text = existsSync(log.file) ? await readFile(log.file, 'utf8') : '';
  let offset = Buffer.byteLength(text);
  const tail = Number(query.get('tailLines') ?? NaN);
  if (Number.isInteger(tail) && tail >= 0) {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    text = lines.slice(Math.max(0, lines.length - tail)).map((l) => `${l}\n`).join('');
  }
  const limit = Number(query.get('limitBytes') ?? NaN);
  if (Number.isInteger(limit) && limit > 0) text = Buffer.from(text).subarray(0, limit).toString('utf8');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write(text);
  if (query.get('follow') !== 'true') return void res.end();
  follows.add(res);
  res.once('close', () => follows.delete(res));
  // Follows the file until the container stops or the reader goes away.
  while (!res.destroyed) {
    const size = existsSync(log.file) ? (await stat(log.file)).size : 0;
    if (size > offset) {
      const handle = await open(log.file, 'r');
      const chunk = Buffer.alloc(size - offset);
      await handle.read(chunk, 0, chunk.length, offset);
      await handle.close();
      offset = size;
      res.write(chunk);
    } else if (!log.running()) {
      break;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  res.end();
}
