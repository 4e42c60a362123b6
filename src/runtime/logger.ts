/** Structured logs: one JSON object per line, filtered by level. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  setLevel(level: LogLevel): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class JsonLogger implements Logger {
  private min: number;

  constructor(
    level: LogLevel,
    private readonly write: (line: string) => void,
    private readonly wallNow: () => number,
    private readonly base: LogFields = {},
  ) {
    this.min = RANK[level];
  }

  setLevel(level: LogLevel): void {
    this.min = RANK[level];
  }

  debug(event: string, fields?: LogFields): void {
    this.log('debug', event, fields);
  }
  info(event: string, fields?: LogFields): void {
    this.log('info', event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    this.log('warn', event, fields);
  }
  error(event: string, fields?: LogFields): void {
    this.log('error', event, fields);
  }

  private log(level: LogLevel, event: string, fields?: LogFields): void {
    if (RANK[level] < this.min) return;
    const record = { ts: new Date(this.wallNow()).toISOString(), level, event, ...this.base, ...fields };
    this.write(JSON.stringify(record) + '\n');
  }
}

/** Discards everything; for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
};
