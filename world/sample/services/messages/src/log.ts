/** One JSON object per line on stdout; LOG_LEVEL (debug, info, warn, error) picks what is written. */
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = LEVELS.indexOf(LEVELS.includes(level as Level) ? (level as Level) : 'info');
  const at = (lvl: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(lvl) < threshold) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, service, msg, ...fields })}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
