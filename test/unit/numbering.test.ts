import { featureNumberOf, formatFeatureNumber, isLockContention, nextFreeNumber } from '../../activities/repo/numbering';

test('feature numbers read at any width and keep their order past 999', () => {
  expect(['001-a', '042-b', '999-c', '1000-d', '12345-e', 'main', '12-too-short', 'x-001'].map(featureNumberOf)).toEqual([1, 42, 999, 1000, 12345, undefined, undefined, undefined]);
  expect([7, 999, 1000, 10_000].map(formatFeatureNumber)).toEqual(['007', '999', '1000', '10000']);
  expect(nextFreeNumber([998, 999])).toBe(1000);
  expect(nextFreeNumber([1000, 3, 999])).toBe(1001);
  expect(nextFreeNumber([])).toBe(1);
  // Sorted as names they would not be; as numbers they are.
  expect(['999-a', '1000-b', '1001-c'].sort().map(featureNumberOf)).toEqual([1000, 1001, 999]);
  expect(['999-a', '1000-b', '1001-c'].map(featureNumberOf).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([999, 1000, 1001]);
});

test('lock contention is told apart from real git failures', () => {
  expect(isLockContention(new Error("fatal: Unable to create '/r/.git/index.lock': File exists."))).toBe(true);
  expect(isLockContention(new Error("error: cannot lock ref 'refs/heads/001-x': Unable to create '/r/.git/refs/heads/001-x.lock': File exists."))).toBe(true);
  // A create-only ref that exists is a number taken, not a lock to wait for.
  expect(isLockContention(new Error("fatal: update_ref failed for ref 'refs/slipway/numbers/7': cannot lock ref 'refs/slipway/numbers/7': reference already exists"))).toBe(false);
  expect(isLockContention(new Error("fatal: a branch named '001-x' already exists"))).toBe(false);
  expect(isLockContention(new Error('CONFLICT (content): Merge conflict in a.txt'))).toBe(false);
});
