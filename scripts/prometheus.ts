/**
 * Prometheus and promtool, installed by the project itself: reused from PATH when both are
 * there, else Debian's `prometheus` package is downloaded with apt-get and unpacked (not
 * installed: no service is started) into the per-user cache, keyed by its version.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { unpackDebianPackage } from './debian';
import { stopProcess } from './process';
import { cacheDir, freePort } from './temporal';

const run = promisify(execFile);

export interface PrometheusTools {
  prometheus: string;
  promtool: string;
}

async function works(binary: string): Promise<boolean> {
  return run(binary, ['--version'], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

export async function ensurePrometheus(log: (line: string) => void = console.log): Promise<PrometheusTools> {
  if ((await works('prometheus')) && (await works('promtool'))) return { prometheus: 'prometheus', promtool: 'promtool' };
  const tools = join(cacheDir(), 'tools');
  const cached = (await readdir(tools).catch(() => [] as string[])).filter((d) => d.startsWith('prometheus-') && !d.includes('.partial-')).sort().reverse();
  for (const dir of cached) {
    const found = { prometheus: join(tools, dir, 'usr/bin/prometheus'), promtool: join(tools, dir, 'usr/bin/promtool') };
    if ((await works(found.prometheus)) && (await works(found.promtool))) return found;
  }

  log(`slipway: fetching Debian's prometheus package into ${tools} (once) ...`);
  const bothWork = async (folder: string) => (await works(join(folder, 'usr/bin/prometheus'))) && (await works(join(folder, 'usr/bin/promtool')));
  try {
    const target = await unpackDebianPackage('prometheus', bothWork);
    return { prometheus: join(target, 'usr/bin/prometheus'), promtool: join(target, 'usr/bin/promtool') };
  } catch (err) {
    throw new Error(`${(err as Error).message}; install the prometheus package or put prometheus and promtool on PATH`);
  }
}

export interface RunningPrometheus {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Config, TSDB (data/) and log; a fixed dir keeps the TSDB across restarts (default: a fresh temp dir). */
  dir?: string;
  scrapeInterval?: string;
  /** A fixed loopback port (default: a free one). */
  port?: number;
  /** Jobs whose targets come from file_sd JSON files, re-read every refreshInterval (default 5s). */
  fileSd?: { job: string; files: string[]; refreshInterval?: string }[];
  /** Start in its own process group, so a terminal's Ctrl-C reaches only whoever started it. */
  detached?: boolean;
}

/** A Prometheus on a loopback port that scrapes the given targets (every second by default). */
export async function startPrometheus(binary: string, targets: { job: string; address: string }[], options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  const home = options.dir ?? (await mkdtemp(join(tmpdir(), 'slipway-prom-')));
  await mkdir(home, { recursive: true });
  const port = options.port ?? (await freePort());
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    scrape_configs: [
      ...targets.map((t) => ({ job_name: t.job, static_configs: [{ targets: [t.address] }] })),
      ...(options.fileSd ?? []).map((sd) => ({ job_name: sd.job, file_sd_configs: [{ files: sd.files, refresh_interval: sd.refreshInterval ?? '5s' }] })),
    ],
  };
  await writeFile(join(home, 'prometheus.yml'), stringify(config));
  const logStream = createWriteStream(join(home, 'prometheus.log'), { flags: 'a' });
  const child = spawn(
    binary,
    [`--config.file=${join(home, 'prometheus.yml')}`, `--storage.tsdb.path=${join(home, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false },
  );
  child.stdout?.pipe(logStream);
  child.stderr?.pipe(logStream);
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}; see ${join(home, 'prometheus.log')}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus on ${url} was not ready within 30 s; see ${join(home, 'prometheus.log')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, process: child, stop };
}

if (require.main === module) {
  ensurePrometheus()
    .then((tools) => console.log(`${tools.prometheus}\n${tools.promtool}`))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}

