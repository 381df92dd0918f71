import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

// dist/ → the service → services/notifications, when built inside the monorepo.
const original = join(__dirname, '..', '..', 'notifications', 'proto', 'notifications.proto');

it('keeps its client copy of notifications.proto identical to the original', (t) => {
  if (!existsSync(original)) return t.skip(`${original} is not here (built outside the monorepo)`);
  assert.equal(readFileSync(join(__dirname, 'proto', 'notifications.proto'), 'utf8'), readFileSync(original, 'utf8'));
});
