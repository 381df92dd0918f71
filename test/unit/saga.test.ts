import { Saga } from '../../workflows/saga';
import type { CompensationRecord } from '../../workflows/state';

test('compensations run newest first, once each; a failing one is recorded and the rest still run', async () => {
  const records: CompensationRecord[] = [];
  const failures: string[] = [];
  const saga = new Saga(records, (record) => failures.push(`${record.name}: ${record.error}`));
  const ran: string[] = [];
  saga.push('revert migrations of messages in dev', async () => void ran.push('migrations@dev'));
  saga.push('roll back messages in dev', async () => {
    ran.push('messages@dev');
    throw new Error('outer', { cause: new Error('deployment dev/messages has no ReplicaSet for revision 3') });
  });
  saga.push('roll back notifications in dev', async () => void ran.push('notifications@dev'));
  expect(saga.size).toBe(3);
  expect(records.map((r) => r.status)).toEqual(['armed', 'armed', 'armed']);

  expect(await saga.unwind()).toEqual(['roll back messages in dev']);
  expect(ran).toEqual(['notifications@dev', 'messages@dev', 'migrations@dev']);
  expect(records.map((r) => r.status)).toEqual(['done', 'failed', 'done']);
  expect(records[1]?.error).toBe('deployment dev/messages has no ReplicaSet for revision 3');
  expect(failures).toEqual(['roll back messages in dev: deployment dev/messages has no ReplicaSet for revision 3']);
  // Nothing runs twice.
  expect(saga.size).toBe(0);
  expect(await saga.unwind()).toEqual([]);
  expect(ran).toHaveLength(3);
});
