import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Client } from 'pg';
import { ensureSampleRepo, SAMPLE_SERVICE_COMMANDS, SAMPLE_SERVICES, sampleCommandEnv, type SampleRepo } from '../../world/sampleRepo';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { applyUpMigrations, grpcCall, metricSum, runCommand, startSampleServer, type SampleServer } from '../support/sampleServices';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
const which = (tool: string) => execFileSync('sh', ['-c', `command -v ${tool} || true`], { encoding: 'utf8' }).trim();

const MESSAGES = 'sample.messages.v1.Messages';
const NOTIFICATIONS = 'sample.notifications.v1.Notifications';

/**
 * Runs a command with the network cut: a new network namespace (unshare -rn, so no root is needed)
 * with only its own loopback up, as bubblewrap's --unshare-net gives. bwrap is not installed here.
 */
function offline(command: string): string {
  const unshare = which('unshare');
  const ip = which('ip');
  if (!unshare || !ip) throw new Error('this test cuts the network with unshare and ip (util-linux, iproute2); install them');
  return `${unshare} -rn sh -c '${ip} link set lo up && ${command.replaceAll("'", `'\\''`)}'`;
}

describe('the sample monorepo', () => {
  let dir: string;
  let sample: SampleRepo;
  let worktree: string;
  /** What a sandbox gives a command: no HOME of the host's (its ~/.npmrc, its ~/.npm), the world's npm cache. */
  let commandEnv: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-sample-'));
    const home = join(dir, 'home');
    await mkdir(home);
    sample = await ensureSampleRepo({ dir: join(dir, 'world') });
    worktree = join(dir, 'worktree');
    git(sample.path, 'worktree', 'add', '--quiet', '-b', 'feature-1', worktree, 'main');
    commandEnv = { HOME: home, ...sampleCommandEnv(sample.npmCache) };
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('is one commit on main, pushed to its bare remote, made once', async () => {
    const head = git(sample.path, 'rev-parse', 'HEAD');
    expect(git(sample.path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(git(sample.path, 'log', '--format=%an <%ae>')).toBe('Slipway sample <sample@localhost>');
    expect(git(sample.path, 'remote', 'get-url', 'origin')).toBe(sample.remoteUrl);
    expect(git(sample.remoteUrl, 'rev-parse', 'main')).toBe(head);
    expect(git(sample.path, 'status', '--porcelain', '--branch', '--untracked-files=all')).toBe('## main...origin/main');
    expect(git(sample.path, 'ls-files')).toContain('services/messages/migrations/20260101000000_create_messages.up.sql');

    const indexBefore = (await stat(join(sample.path, '.git', 'index'))).mtimeMs;
    const again = await ensureSampleRepo({ dir: join(dir, 'world') });
    expect(again).toEqual(sample);
    expect(git(sample.path, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(sample.remoteUrl, 'rev-parse', 'main')).toBe(head);
    expect((await stat(join(sample.path, '.git', 'index'))).mtimeMs).toBe(indexBefore);
  });

  test("keeps the services' copies of the server kit identical", async () => {
    for (const file of ['grpcMetrics.ts', 'serve.ts', 'httpServer.ts', 'validate.ts', 'config.ts', 'log.ts', 'protos.ts', 'testClient.ts']) {
      const [messages, notifications] = await Promise.all(SAMPLE_SERVICES.map((s) => readFile(join(sample.path, 'services', s, 'src', file), 'utf8')));
      expect({ file, same: messages === notifications }).toEqual({ file, same: true });
    }
  });

  test('really is offline inside the cut-off namespace', async () => {
    const probe = `node -e "require('net').connect(5432, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(3))"`;
    expect((await runCommand(probe, worktree, commandEnv)).code).toBe(0);
    expect((await runCommand(offline(probe), worktree, commandEnv)).code).toBe(3);
  });

  test.each(SAMPLE_SERVICES)('%s: setup, test and build succeed in a fresh worktree without a network', async (service) => {
    const timings: Record<string, number> = {};
    for (const step of ['setup', 'test', 'build'] as const) {
      const result = await runCommand(offline(SAMPLE_SERVICE_COMMANDS[service][step]), worktree, commandEnv);
      if (result.code !== 0) throw new Error(`${service} ${step} exited ${result.code}:\n${result.output}`);
      timings[step] = result.ms;
      if (step === 'test') expect(result.output).toMatch(/# fail 0/);
    }
    process.stderr.write(`BENCH ${JSON.stringify({ bench: 'sample-service-commands', service, ms: timings })}\n`);
    // Only ignored files appeared: dependencies and build output never dirty the branch.
    expect(git(worktree, 'status', '--porcelain')).toBe('');
  });

  test('a read-only npm cache is not enough: npm rewrites the index entries it reads', async () => {
    // A copy of the service's manifests: npm ci empties node_modules before it fails.
    const project = join(dir, 'read-only-check');
    await mkdir(project);
    for (const file of ['package.json', 'package-lock.json']) await copyFile(join(worktree, 'services/notifications', file), join(project, file));
    const cache = sample.npmCache;
    const readOnly = `mount --bind ${cache} ${cache} && mount -o remount,bind,ro ${cache} && npm ci --offline --ignore-scripts --no-audit --no-fund`;
    const result = await runCommand(`${which('unshare')} -rmn sh -c '${readOnly}'`, project, commandEnv);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/ENOTCACHED/);
  });

  test("messages' own suite runs its PostgreSQL tests too when it has a database", async () => {
    const database = await freshDatabase();
    try {
      const result = await runCommand(SAMPLE_SERVICE_COMMANDS.messages.test, worktree, { ...commandEnv, DATABASE_URL: database.url });
      if (result.code !== 0) throw new Error(result.output);
      expect(result.output).toMatch(/# fail 0/);
      expect(result.output).not.toMatch(/# SKIP/);
    } finally {
      await database.drop();
    }
  });

  describe('the built services', () => {
    let database: TestDatabase;
    let notifications: SampleServer;
    let messages: SampleServer;
    const messagesProto = () => join(worktree, 'services/messages/proto/messages.proto');
    const notificationsProto = () => join(worktree, 'services/notifications/proto/notifications.proto');
    const metrics = async () => (await fetch(`${messages.http}/metrics`)).text();

    beforeAll(async () => {
      database = await freshDatabase();
      await applyUpMigrations(database.url, join(worktree, 'services/messages/migrations'));
      notifications = await startSampleServer(join(worktree, 'services/notifications'));
      messages = await startSampleServer(join(worktree, 'services/messages'), { DATABASE_URL: database.url, NOTIFICATIONS_ADDR: notifications.grpc });
    }, 60_000);

    afterAll(async () => {
      await messages?.stop();
      await notifications?.stop();
      await database?.drop();
    });

    test('serve gRPC, deliver the event, and count each call with its code', async () => {
      expect((await fetch(`${messages.http}/readyz`)).status).toBe(200);
      expect((await fetch(`${notifications.http}/healthz`)).status).toBe(200);
      for (const body of ['hello', 'are you there?', 'ping']) {
        await grpcCall(messagesProto(), MESSAGES, 'SendMessage', messages.grpc, { senderId: 'ada', recipientId: 'bob', body });
      }
      const inbox = await grpcCall<{ messages: { body: string }[] }>(messagesProto(), MESSAGES, 'ListMessages', messages.grpc, { userId: 'bob', limit: 2 });
      expect(inbox.messages.map((m) => m.body)).toEqual(['ping', 'are you there?']);
      await expect(grpcCall(messagesProto(), MESSAGES, 'SendMessage', messages.grpc, { senderId: 'ada', recipientId: 'bob', body: '' })).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
      });

      // The outbox relay tells notifications about each message, within a relay interval or two.
      const deadline = Date.now() + 10_000;
      let notified: { title: string }[] = [];
      while (notified.length < 3 && Date.now() < deadline) {
        notified = (await grpcCall<{ notifications: { title: string }[] }>(notificationsProto(), NOTIFICATIONS, 'ListNotifications', notifications.grpc, { userId: 'bob' })).notifications;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(notified.map((n) => n.title)).toEqual(Array(3).fill('New message from ada'));

      const text = await metrics();
      const send = { grpc_service: MESSAGES, grpc_method: 'SendMessage', grpc_type: 'unary' };
      expect(metricSum(text, 'grpc_server_handled_total', { ...send, grpc_code: 'OK' })).toBe(3);
      expect(metricSum(text, 'grpc_server_handled_total', { ...send, grpc_code: 'InvalidArgument' })).toBe(1);
      expect(metricSum(text, 'grpc_server_handled_total', { grpc_method: 'ListMessages', grpc_code: 'OK' })).toBe(1);
      expect(metricSum(text, 'grpc_server_started_total', send)).toBe(4);
      expect(metricSum(text, 'grpc_server_handling_seconds_count', send)).toBe(4);
      expect(metricSum(text, 'outbox_queue_depth')).toBe(0);
    });

    test('a failing handler is counted with its real code, so the error ratio rises', async () => {
      const send = { grpc_service: MESSAGES, grpc_method: 'SendMessage' };
      const before = await metrics();
      const errorsBefore = metricSum(before, 'grpc_server_handled_total', send) - metricSum(before, 'grpc_server_handled_total', { ...send, grpc_code: 'OK' });
      // What a broken release looks like from outside: the table its handler writes is gone.
      const admin = new Client({ connectionString: database.url });
      await admin.connect();
      await admin.query('ALTER TABLE messages RENAME TO messages_gone');
      try {
        for (let i = 0; i < 3; i++) {
          await expect(grpcCall(messagesProto(), MESSAGES, 'SendMessage', messages.grpc, { senderId: 'ada', recipientId: 'bob', body: `lost ${i}` })).rejects.toMatchObject({
            code: status.INTERNAL,
          });
        }
      } finally {
        await admin.query('ALTER TABLE messages_gone RENAME TO messages');
        await admin.end();
      }
      const after = await metrics();
      expect(metricSum(after, 'grpc_server_handled_total', { ...send, grpc_code: 'Internal' })).toBe(3);
      const errorsAfter = metricSum(after, 'grpc_server_handled_total', send) - metricSum(after, 'grpc_server_handled_total', { ...send, grpc_code: 'OK' });
      expect(errorsAfter - errorsBefore).toBe(3);
      expect(messages.output.join('\n')).toMatch(/SendMessage failed.*messages.*does not exist/);
    });

    test('stop on SIGTERM with exit code 0', async () => {
      expect(await messages.stop()).toBe(0);
      expect(await notifications.stop()).toBe(0);
      expect(messages.output.join('\n')).toMatch(/"msg":"shutting down","signal":"SIGTERM"/);
    });
  });
});
