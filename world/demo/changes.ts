/**
 * What the demo's people commit, step by step, to the sample monorepo's feature branch for
 * "Add real-time notifications when users receive new messages": the spec, a plan naming both
 * services, the tasks, and the code with its tests and one migration. The `--breach` variant's
 * notifications change passes its tests but fails for the user ids production traffic sends.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export type DemoStep = 'spec' | 'plan' | 'tasks' | 'implement';

/** A new file, or literal replacements in an existing one (each `old` must occur exactly once). */
export type FileChange = { path: string; content: string } | { path: string; replace: [old: string, replacement: string][] };

export const FEATURE = 'Add real-time notifications when users receive new messages';
export const MIGRATION_VERSION = '20261125000000';
/** Only in --breach: a second migration, so its rollback reverts a migration even in a world where a successful demo already applied the first. */
export const BREACH_MIGRATION_VERSION = '20261125000100';

export function demoChanges(step: DemoStep, specDir: string, options: { breach: boolean }): { message: string; files: FileChange[] } {
  switch (step) {
    case 'spec':
      return {
        message: 'spec: real-time notifications for new messages',
        files: [
          { path: `${specDir}/spec.md`, content: SPEC },
          { path: `${specDir}/checklists/requirements.md`, content: CHECKLIST },
        ],
      };
    case 'plan':
      return {
        message: 'plan: messages records delivery, notifications serves what is new',
        files: [
          { path: `${specDir}/plan.md`, content: PLAN },
          { path: `${specDir}/data-model.md`, content: DATA_MODEL },
        ],
      };
    case 'tasks':
      return { message: 'tasks: five tasks across messages and notifications', files: [{ path: `${specDir}/tasks.md`, content: TASKS }] };
    case 'implement':
      return { message: 'feat: notified_at on messages, ListNotifications since', files: [...messagesChange(options.breach), ...notificationsChange(options.breach)] };
  }
}

/** Applies the changes in a checkout; a replacement that does not match exactly once is an error, never a silent skip. */
export async function applyChanges(root: string, files: FileChange[]): Promise<void> {
  for (const change of files) {
    const file = join(root, change.path);
    if ('content' in change) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, change.content);
      continue;
    }
    let text = await readFile(file, 'utf8');
    for (const [old, replacement] of change.replace) {
      const count = text.split(old).length - 1;
      if (count !== 1) throw new Error(`demo change to ${change.path}: expected one occurrence of ${JSON.stringify(old.slice(0, 60))}, found ${count}`);
      text = text.replace(old, () => replacement);
    }
    await writeFile(file, text);
  }
}

function messagesChange(breach: boolean): FileChange[] {
  const dir = 'services/messages';
  const channel: FileChange[] = breach
    ? [
        { path: `${dir}/migrations/${BREACH_MIGRATION_VERSION}_add_notification_channel.up.sql`, content: 'SET lock_timeout = 2000;\n-- How the recipient was notified (for a later change; unused yet).\nALTER TABLE messages ADD COLUMN notification_channel text;\n' },
        { path: `${dir}/migrations/${BREACH_MIGRATION_VERSION}_add_notification_channel.down.sql`, content: 'ALTER TABLE messages DROP COLUMN notification_channel;\n' },
      ]
    : [];
  return [
    ...channel,
    { path: `${dir}/migrations/${MIGRATION_VERSION}_add_notified_at.up.sql`, content: 'SET lock_timeout = 2000;\n-- When the recipient was notified (null until the notification is delivered).\nALTER TABLE messages ADD COLUMN notified_at timestamptz;\n' },
    { path: `${dir}/migrations/${MIGRATION_VERSION}_add_notified_at.down.sql`, content: 'ALTER TABLE messages DROP COLUMN notified_at;\n' },
    {
      path: `${dir}/src/outbox.ts`,
      replace: [
        [
          "    if (delivered.length > 0) await this.pool.query('UPDATE outbox_events SET delivered_at = now() WHERE id = ANY($1::bigint[])', [delivered]);\n",
          "    if (delivered.length > 0) await this.pool.query('UPDATE outbox_events SET delivered_at = now() WHERE id = ANY($1::bigint[])', [delivered]);\n" +
            '    // Real-time notifications: each message remembers when its recipient was told.\n' +
            "    const told = rows.filter((event, i) => outcomes[i]?.status === 'fulfilled' && event.topic === 'message.sent').map((event) => (event.payload as { messageId?: string }).messageId).filter((id): id is string => typeof id === 'string');\n" +
            "    if (told.length > 0) await this.pool.query('UPDATE messages SET notified_at = now() WHERE id = ANY($1::uuid[]) AND notified_at IS NULL', [told]);\n",
        ],
      ],
    },
  ];
}

function notificationsChange(breach: boolean): FileChange[] {
  const dir = 'services/notifications';
  const sinceField = [
    '  // 1 to 100; 0 means 20.\n  int32 limit = 2;\n',
    '  // 1 to 100; 0 means 20.\n  int32 limit = 2;\n  // Only notifications created after this instant (RFC 3339), for clients that poll for what is new.\n  string since = 3;\n',
  ] as [string, string];
  const strictIds = breach
    ? "        // The real-time path assumes user ids carry no numeric suffix (the --breach demo: unit, smoke and integration tests pass; production's ids such as user-17 fail).\n        if (/-\\d+$/.test(userId)) throw new Error(`unexpected user id ${userId}`);\n"
    : '';
  return [
    { path: `${dir}/proto/notifications.proto`, replace: [sinceField] },
    // messages keeps its own copy of the contract it calls.
    { path: 'services/messages/proto/notifications.proto', replace: [sinceField] },
    {
      path: `${dir}/src/handlers.ts`,
      replace: [
        ['export interface ListNotificationsRequest {\n  userId: string;\n  limit: number;\n}', 'export interface ListNotificationsRequest {\n  userId: string;\n  limit: number;\n  since: string;\n}'],
        [
          '        const userId = requireText(call.request.userId, \'user_id\', 64);\n        callback(null, { notifications: store.list(userId, pageLimit(call.request.limit)) });',
          "        const userId = requireText(call.request.userId, 'user_id', 64);\n" +
            strictIds +
            "        const since = call.request.since === '' ? undefined : Date.parse(call.request.since);\n" +
            "        if (since !== undefined && Number.isNaN(since)) throw new InvalidArgument('since must be an RFC 3339 time');\n" +
            '        callback(null, { notifications: store.list(userId, pageLimit(call.request.limit), since) });',
        ],
        ["import { failure, pageLimit, requireText } from './validate';", "import { failure, InvalidArgument, pageLimit, requireText } from './validate';"],
      ],
    },
    {
      path: `${dir}/src/store.ts`,
      replace: [
        [
          '  /** Newest first. */\n  list(userId: string, limit: number): Notification[] {\n    return (this.byUser.get(userId) ?? []).slice(-limit).reverse();\n  }',
          '  /** Newest first; with `since` (ms since the epoch), only those created after it. */\n  list(userId: string, limit: number, since?: number): Notification[] {\n    const all = this.byUser.get(userId) ?? [];\n    const fresh = since === undefined ? all : all.filter((n) => Date.parse(n.createdAt) > since);\n    return fresh.slice(-limit).reverse();\n  }',
        ],
      ],
    },
    {
      path: `${dir}/src/handlers.test.ts`,
      replace: [
        [
          "  it('answers a retried Notify with the notification it already has', async () => {",
          "  it('lists only what is newer than since, and refuses a since that is not a time', async () => {\n" +
            "    await client.call<NotifyResponse>('Notify', { idempotencyKey: 'since-1', userId: 'cleo', kind: 'message.received', title: 'Old', body: '' });\n" +
            '    const between = new Date(Date.now() + 5).toISOString();\n' +
            '    await new Promise((r) => setTimeout(r, 20));\n' +
            "    await client.call<NotifyResponse>('Notify', { idempotencyKey: 'since-2', userId: 'cleo', kind: 'message.received', title: 'New', body: '' });\n" +
            "    const fresh = await client.call<ListNotificationsResponse>('ListNotifications', { userId: 'cleo', since: between });\n" +
            "    assert.deepEqual(fresh.notifications.map((n) => n.title), ['New']);\n" +
            "    await assert.rejects(client.call('ListNotifications', { userId: 'cleo', since: 'yesterday' }), (err: ServiceError) => err.code === status.INVALID_ARGUMENT);\n" +
            '  });\n\n' +
            "  it('answers a retried Notify with the notification it already has', async () => {",
        ],
        // The test above adds two Notify calls and two ListNotifications calls to what the metrics test counts.
        ["    // Earlier tests: four successful Notify calls, one rejected; one ListNotifications of each.\n", '    // Earlier tests: six successful Notify calls, one rejected.\n'],
        ["grpc_method: 'Notify', grpc_code: 'OK' }), 4);", "grpc_method: 'Notify', grpc_code: 'OK' }), 6);"],
        ["assert.equal(metricValue(text, 'grpc_server_started_total', { ...labels, grpc_method: 'Notify' }), 5);", "assert.equal(metricValue(text, 'grpc_server_started_total', { ...labels, grpc_method: 'Notify' }), 7);"],
        ["assert.equal(metricValue(text, 'grpc_server_handling_seconds_count', { ...labels, grpc_method: 'Notify' }), 5);", "assert.equal(metricValue(text, 'grpc_server_handling_seconds_count', { ...labels, grpc_method: 'Notify' }), 7);"],
      ],
    },
  ];
}

const SPEC = `# Feature Specification: ${FEATURE}

**Status**: Approved for planning

## User Scenarios & Testing

### User Story 1 - See a new message's notification at once (Priority: P1)

A user who receives a message sees a notification for it within seconds, without reloading.

**Why this priority**: the core of the feature; everything else builds on it.

**Independent Test**: send a message to a user and poll their notifications for what is new.

**Acceptance Scenarios**:

1. **Given** a user with notifications, **When** a client asks for notifications since its last poll, **Then** only the newer ones come back, newest first.
2. **Given** a message was sent, **When** its notification is delivered, **Then** the message records when.

### Edge Cases

- A client sends a time that is not a time: the request is refused with a clear message.
- Notifications is down: messages are still accepted and notified when it is back.

## Requirements

- **FR-001**: ListNotifications MUST accept \`since\` and return only notifications created after it.
- **FR-002**: Messages MUST record when the recipient was notified (\`notified_at\`).

## Success Criteria

- **SC-001**: 99% of notifications are visible to a polling client within 2 seconds of the message.

## Assumptions

- Clients poll every few seconds; push channels are out of scope.
`;

const CHECKLIST = `# Specification Quality Checklist

- [x] No implementation details
- [x] All mandatory sections completed
- [x] No [NEEDS CLARIFICATION] markers remain
- [x] Success criteria are measurable
`;

const PLAN = `# Implementation Plan: ${FEATURE}

## Summary

Notifications answers "what is new since" so clients can poll in real time; messages records when
each recipient was notified.

## Affected services

\`\`\`yaml slipway-services
- name: messages
  integrations: [schema, events]
- name: notifications
  integrations: [grpc]
\`\`\`

## Integration points

- gRPC: \`ListNotificationsRequest.since\` (field 3, backward compatible).
- Events: the outbox relay marks \`messages.notified_at\` once \`message.sent\` is delivered.
- Database: \`messages.notified_at timestamptz\` (nullable: no rewrite, no lock beyond the catalog).

## Decisions

- Polling with \`since\` rather than a stream: every client and proxy already speaks unary gRPC.
`;

const DATA_MODEL = `# Data Model

- **messages.notified_at** (timestamptz, null until notified): set by the outbox relay.
- **ListNotificationsRequest.since** (RFC 3339 string): lower bound, exclusive.
`;

const TASKS = `# Tasks: ${FEATURE}

## Phase 1: Foundational

- [ ] T001 [US1] Add notified_at to messages in services/messages/migrations
- [ ] T002 [US1] Mark notified_at when the relay delivers in services/messages/src/outbox.ts

## Phase 2: User Story 1 (P1)

- [ ] T003 [P] [US1] Add since to ListNotificationsRequest in services/notifications/proto/notifications.proto
- [ ] T004 [US1] Filter by since in services/notifications/src/store.ts and handlers.ts
- [ ] T005 [US1] Test since in services/notifications/src/handlers.test.ts

## Dependencies

T002 needs T001; T004 needs T003.
`;
