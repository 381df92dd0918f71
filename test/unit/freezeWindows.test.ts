import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../config/load';
import { instantOf, openFreeze, wallTimeAt, type FreezeWindowSpec } from '../../config/freezeWindows';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

const weekend: FreezeWindowSpec = { name: 'weekend', timeZone: 'Europe/Berlin', weekly: { from: 'fri 16:00', to: 'mon 08:00' } };

test('a weekly window opens and closes at wall-clock times in its own time zone', () => {
  // Friday 27 November 2026: Berlin is UTC+1.
  expect(openFreeze([weekend], at('2026-11-27T14:59:00Z'))).toBeUndefined();
  const open = openFreeze([weekend], at('2026-11-27T15:00:00Z'));
  expect(open?.windows.map((w) => w.name)).toEqual(['weekend']);
  expect(iso(open?.endsAt)).toBe('2026-11-30T07:00:00.000Z');
  expect(iso(openFreeze([weekend], at('2026-11-29T23:30:00Z'))?.endsAt)).toBe('2026-11-30T07:00:00.000Z');
  expect(openFreeze([weekend], at('2026-11-30T07:00:00Z'))).toBeUndefined();
  // The same instant is Friday 10:00 in New York: no freeze there.
  expect(openFreeze([{ ...weekend, timeZone: 'America/New_York' }], at('2026-11-27T15:00:00Z'))).toBeUndefined();
});

test('a daily window that crosses midnight belongs to the day it starts on', () => {
  const nights: FreezeWindowSpec = { name: 'nights', timeZone: 'UTC', daily: { from: '22:00', to: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] } };
  // Friday 23:00 → Saturday 06:00.
  expect(iso(openFreeze([nights], at('2026-11-27T23:00:00Z'))?.endsAt)).toBe('2026-11-28T06:00:00.000Z');
  // Saturday 01:00 is still Friday's night.
  expect(iso(openFreeze([nights], at('2026-11-28T01:00:00Z'))?.endsAt)).toBe('2026-11-28T06:00:00.000Z');
  // Saturday 23:00 is not a listed night, and Monday 01:00 belongs to Sunday's, which is not either.
  expect(openFreeze([nights], at('2026-11-28T23:00:00Z'))).toBeUndefined();
  expect(openFreeze([nights], at('2026-11-30T01:00:00Z'))).toBeUndefined();
  expect(openFreeze([nights], at('2026-11-27T21:59:00Z'))).toBeUndefined();
});

test('windows that follow on from each other are one freeze until the last one ends', () => {
  const evening: FreezeWindowSpec = { name: 'evening', timeZone: 'UTC', daily: { from: '18:00', to: '00:00' } };
  const night: FreezeWindowSpec = { name: 'night', timeZone: 'UTC', daily: { from: '00:00', to: '08:00' } };
  const open = openFreeze([evening, night], at('2026-11-25T20:00:00Z'));
  expect(open?.windows.map((w) => w.name)).toEqual(['evening', 'night']);
  expect(iso(open?.endsAt)).toBe('2026-11-26T08:00:00.000Z');
});

test('a window across the spring DST change ends at its wall-clock time, an hour sooner in UTC', () => {
  // Berlin moves from UTC+1 to UTC+2 at 02:00 on Sunday 29 March 2026.
  const saturday: FreezeWindowSpec = { name: 'saturday', timeZone: 'Europe/Berlin', weekly: { from: 'sat 12:00', to: 'sun 12:00' } };
  expect(iso(openFreeze([saturday], at('2026-03-28T11:00:00Z'))?.endsAt)).toBe('2026-03-29T10:00:00.000Z');
  // A wall time the change skips falls right after the gap: 02:30 is 03:30 CEST.
  expect(iso(instantOf({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z');
  expect(wallTimeAt(at('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 3, minute: 30 });
});

test('a wall time the autumn DST change repeats is its later instant, so a freeze never ends early', () => {
  // New York goes back from UTC-4 to UTC-5 at 02:00 on Sunday 1 November 2026: 01:30 happens twice.
  expect(iso(instantOf({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, 'America/New_York'))).toBe('2026-11-01T06:30:00.000Z');
  const night: FreezeWindowSpec = { name: 'night', timeZone: 'America/New_York', daily: { from: '23:00', to: '01:30' } };
  // Saturday 23:00 EDT: the window lasts 3.5 hours of real time that night.
  expect(iso(openFreeze([night], at('2026-11-01T03:00:00Z'))?.endsAt)).toBe('2026-11-01T06:30:00.000Z');
});

test('a one-off window in a half-hour time zone', () => {
  const quarterEnd: FreezeWindowSpec = { name: 'quarter-end', timeZone: 'Asia/Kolkata', once: { from: '2026-12-28 09:00', to: '2027-01-04' } };
  expect(openFreeze([quarterEnd], at('2026-12-28T03:29:00Z'))).toBeUndefined();
  expect(iso(openFreeze([quarterEnd], at('2026-12-28T03:30:00Z'))?.endsAt)).toBe('2027-01-03T18:30:00.000Z');
  expect(openFreeze([quarterEnd], at('2027-01-03T18:30:00Z'))).toBeUndefined();
});

const config = (windows: unknown[]) => ({
  repository: { path: '.' },
  services: [{ name: 'messages', path: 'services/messages' }],
  environments: [{ name: 'production' }],
  freeze: { windows },
});

test('config takes windows with an explicit, known time zone and exactly one schedule', () => {
  const parsed = parseConfig(config([{ name: 'weekend', timeZone: 'Europe/Berlin', weekly: { from: 'Fri 16:00', to: 'mon 08:00' }, reason: 'weekend' }]));
  expect(parsed.freeze.windows[0]?.weekly).toEqual({ from: 'fri 16:00', to: 'mon 08:00' });
  expect(parseConfig(config([])).freeze.windows).toEqual([]);
});

test.each([
  [{ name: 'weekend', weekly: { from: 'fri 16:00', to: 'mon 08:00' } }, 'freeze.windows.0.timeZone'],
  [{ name: 'weekend', timeZone: 'Europe/Berlinn', weekly: { from: 'fri 16:00', to: 'mon 08:00' } }, 'freeze.windows.0.timeZone: "Europe/Berlinn" is not a time zone'],
  [{ name: 'weekend', timeZone: 'UTC', weekly: { from: 'friday 16:00', to: 'mon 08:00' } }, 'freeze.windows.0.weekly.from: a day and a time'],
  [{ name: 'nights', timeZone: 'UTC', daily: { from: '24:00', to: '06:00' } }, 'freeze.windows.0.daily.from: a time of day'],
  [{ name: 'nights', timeZone: 'UTC', daily: { from: '06:00', to: '06:00' } }, 'freeze.windows.0.daily.to: from and to are the same time'],
  [{ name: 'both', timeZone: 'UTC', daily: { from: '22:00', to: '06:00' }, weekly: { from: 'fri 16:00', to: 'mon 08:00' } }, 'freeze.windows.0: give exactly one of weekly, daily or once (found weekly and daily)'],
  [{ name: 'none', timeZone: 'UTC' }, 'found none'],
  [{ name: 'quarter', timeZone: 'UTC', once: { from: '2026-12-28', to: '2026-12-27 23:00' } }, 'freeze.windows.0.once.to: ends (2026-12-27 23:00) before it starts'],
  [{ name: 'quarter', timeZone: 'UTC', once: { from: '2026-02-30', to: '2026-03-02' } }, 'freeze.windows.0.once.from: a local date and time'],
])('config rejects a bad window with its path: %j', (window, message) => {
  expect(() => parseConfig(config([window]))).toThrow(message);
});

test('window names are unique', () => {
  const window = { name: 'weekend', timeZone: 'UTC', weekly: { from: 'sat 00:00', to: 'mon 00:00' } };
  expect(() => parseConfig(config([window, window]))).toThrow('freeze.windows.1.name: duplicate name "weekend"');
});

test('the commented example in slipway.config.example.yaml is a valid freeze section', () => {
  const text = readFileSync(join(__dirname, '../../slipway.config.example.yaml'), 'utf8').split('\n');
  const start = text.indexOf('# freeze:');
  const block = [];
  for (let i = start; i < text.length && (text[i] ?? '').startsWith('#') && (i === start || (text[i] ?? '').startsWith('#   ')); i++) block.push((text[i] ?? '').slice(2));
  const example = parse(block.join('\n')) as { freeze: { windows: unknown[] } };
  expect(parseConfig(config(example.freeze.windows)).freeze.windows.map((w) => w.name)).toEqual(['weekend', 'nights', 'year-end']);
});
