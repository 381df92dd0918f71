/**
 * Scheduled production freeze windows: when one is open, and when it closes. Pure (Intl only, no
 * Node APIs, no clock of its own), so the workflow, the API and the config schema share it; a
 * workflow passes its deterministic `Date.now()`.
 *
 * Every time is a wall-clock time in the window's own IANA time zone: "fri 16:00" in Europe/Berlin
 * is 16:00 in Berlin whatever the season. A wall time that a DST change skips (02:30 on the spring
 * night) falls on the instant after the gap; one that happens twice falls on the later, so an end
 * never comes early.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A window as config holds it (config/schema.ts validates it): exactly one of weekly, daily, once. */
export interface FreezeWindowSpec {
  name: string;
  timeZone: string;
  /** Shown to people while the window holds a run, e.g. "weekend: no production changes". */
  reason?: string;
  /** Once a week, e.g. from "fri 16:00" to "mon 08:00". */
  weekly?: { from: string; to: string };
  /** Every listed day (all by default) from `from` to `to`; a `to` at or before `from` is the next day. */
  daily?: { from: string; to: string; days?: Weekday[] };
  /** One span of dates, e.g. from "2026-12-21 00:00" to "2027-01-04 08:00". */
  once?: { from: string; to: string };
}

/** The windows open at an instant, and when the last of them (chained end to start) closes. */
export interface OpenFreeze {
  windows: { name: string; timeZone: string; reason?: string }[];
  /** ms since the epoch. */
  endsAt: number;
}

const MINUTES_PER_DAY = 1_440;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday. */
  weekday: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  return format;
}

/** Whether Intl knows the time zone (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

function partsAt(ms: number, timeZone: string): WallTime & { second: number } {
  const parts: Record<string, string> = {};
  for (const part of formatFor(timeZone).formatToParts(new Date(ms))) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf((parts.weekday ?? '').toLowerCase().slice(0, 3) as Weekday),
  };
}

/** The wall-clock time in `timeZone` at an instant. */
export function wallTimeAt(ms: number, timeZone: string): WallTime {
  const { second: _second, ...wall } = partsAt(ms, timeZone);
  return wall;
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetAt(ms: number, timeZone: string): number {
  const p = partsAt(ms, timeZone);
  const seconds = Math.floor(ms / 1000) * 1000;
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - seconds;
}

/** The instant a wall-clock time in `timeZone` happens (see the module comment for DST gaps and repeats). */
export function instantOf(wall: Pick<WallTime, 'year' | 'month' | 'day' | 'hour' | 'minute'>, timeZone: string): number {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  // The offsets a day before and a day after bracket at most one DST change.
  const before = asUtc - offsetAt(asUtc - 86_400_000, timeZone);
  const after = asUtc - offsetAt(asUtc + 86_400_000, timeZone);
  const matches = (t: number) => {
    const w = wallTimeAt(t, timeZone);
    return w.year === wall.year && w.month === wall.month && w.day === wall.day && w.hour === wall.hour && w.minute === wall.minute;
  };
  const real = [before, after].filter(matches);
  // Repeated: the later instant. Skipped: the instant after the gap, at the offset from before it.
  return real.length > 0 ? Math.max(...real) : before;
}

/** "HH:MM" → minutes into the day; undefined when malformed. */
export function minuteOfDay(text: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  return match ? Number(match[1]) * 60 + Number(match[2]) : undefined;
}

/** "fri 16:00" → minutes into the week (Sunday 00:00 = 0); undefined when malformed. */
export function minuteOfWeek(text: string): number | undefined {
  const match = /^(sun|mon|tue|wed|thu|fri|sat)\s+(\S+)$/i.exec(text.trim());
  if (!match) return undefined;
  const minute = minuteOfDay(match[2] ?? '');
  return minute === undefined ? undefined : WEEKDAYS.indexOf((match[1] ?? '').toLowerCase() as Weekday) * MINUTES_PER_DAY + minute;
}

/** "YYYY-MM-DD HH:MM" (or a date alone, meaning 00:00) → its parts; undefined when malformed or not a calendar date. */
export function localDateTime(text: string): Pick<WallTime, 'year' | 'month' | 'day' | 'hour' | 'minute'> | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}:\d{2}))?$/.exec(text.trim());
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const minute = match[4] !== undefined ? minuteOfDay(match[4]) : 0;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (minute === undefined || date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return { year, month, day, hour: Math.floor(minute / 60), minute: minute % 60 };
}

/** A weekly or daily window as spans of the week, in wall-clock minutes (`to` may wrap past Saturday). */
function weeklySpans(window: FreezeWindowSpec): { from: number; to: number }[] {
  if (window.weekly !== undefined) {
    const from = minuteOfWeek(window.weekly.from);
    const to = minuteOfWeek(window.weekly.to);
    return from === undefined || to === undefined || from === to ? [] : [{ from, to }];
  }
  if (window.daily !== undefined) {
    const from = minuteOfDay(window.daily.from);
    const to = minuteOfDay(window.daily.to);
    if (from === undefined || to === undefined) return [];
    const days = window.daily.days ?? WEEKDAYS;
    return days.map((day) => {
      const start = WEEKDAYS.indexOf(day) * MINUTES_PER_DAY;
      return { from: start + from, to: (start + to + (to <= from ? MINUTES_PER_DAY : 0)) % MINUTES_PER_WEEK };
    });
  }
  return [];
}

/** When one window that is open at `now` closes (ms), or undefined when it is not open. */
export function windowEndAt(window: FreezeWindowSpec, now: number): number | undefined {
  if (window.once !== undefined) {
    const from = localDateTime(window.once.from);
    const to = localDateTime(window.once.to);
    if (from === undefined || to === undefined) return undefined;
    const start = instantOf(from, window.timeZone);
    const end = instantOf(to, window.timeZone);
    return now >= start && now < end ? end : undefined;
  }
  const wall = wallTimeAt(now, window.timeZone);
  const minute = wall.weekday * MINUTES_PER_DAY + wall.hour * 60 + wall.minute;
  let end: number | undefined;
  for (const span of weeklySpans(window)) {
    const inside = span.from < span.to ? minute >= span.from && minute < span.to : minute >= span.from || minute < span.to;
    if (!inside) continue;
    // The wall-clock date and time the span ends, counted in days from today's date.
    const ahead = (span.to - minute + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
    const endMinute = wall.hour * 60 + wall.minute + ahead;
    const date = new Date(Date.UTC(wall.year, wall.month - 1, wall.day + Math.floor(endMinute / MINUTES_PER_DAY)));
    const dayMinute = endMinute % MINUTES_PER_DAY;
    const at = instantOf({ year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: Math.floor(dayMinute / 60), minute: dayMinute % 60 }, window.timeZone);
    end = Math.max(end ?? 0, at);
  }
  return end;
}

/**
 * The windows open at `now`, or undefined. Windows that follow on without a gap (every night of a
 * week, a weekend that runs into a holiday) count as one freeze that ends when the last one does.
 */
export function openFreeze(windows: readonly FreezeWindowSpec[], now: number): OpenFreeze | undefined {
  let at = now;
  const open: OpenFreeze['windows'] = [];
  // Bounded: a chain of windows longer than this still ends; the run looks again when it does.
  for (let step = 0; step < 50; step++) {
    let next: number | undefined;
    for (const window of windows) {
      const end = windowEndAt(window, at);
      if (end === undefined || end <= at) continue;
      if (!open.some((w) => w.name === window.name)) open.push({ name: window.name, timeZone: window.timeZone, ...(window.reason !== undefined ? { reason: window.reason } : {}) });
      next = Math.max(next ?? 0, end);
    }
    if (next === undefined) break;
    at = next;
  }
  return open.length > 0 ? { windows: open, endsAt: at } : undefined;
}
