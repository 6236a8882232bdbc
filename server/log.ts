/**
 * Structured logs: one JSON object per line (`{"time","level","msg",...fields}`), so that logs
 * can be filtered with `jq` and shipped as they are. A child logger adds fields (the component,
 * an assembly id) to every line it writes.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** Extra fields of a log line. Errors are written as their name, message and stack. */
export type LogFields = Record<string, unknown>;

/** Where lines go; `process.stdout` by default, an array in tests. */
export interface LogSink {
  write(line: string): unknown;
}

export class Logger {
  readonly #level: LogLevel;
  readonly #sink: LogSink;
  readonly #bindings: LogFields;

  constructor(level: LogLevel = 'info', sink: LogSink = process.stdout, bindings: LogFields = {}) {
    this.#level = level;
    this.#sink = sink;
    this.#bindings = bindings;
  }

  get level(): LogLevel {
    return this.#level;
  }

  /** A logger that adds `bindings` to every line. */
  child(bindings: LogFields): Logger {
    return new Logger(this.#level, this.#sink, { ...this.#bindings, ...bindings });
  }

  debug(msg: string, fields?: LogFields): void {
    this.#write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.#write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.#write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.#write('error', msg, fields);
  }

  #write(level: Exclude<LogLevel, 'silent'>, msg: string, fields: LogFields | undefined): void {
    if (SEVERITY[level] < SEVERITY[this.#level]) return;
    const line: LogFields = { time: new Date().toISOString(), level, msg, ...this.#bindings };
    for (const [key, value] of Object.entries(fields ?? {})) {
      line[key] =
        value instanceof Error
          ? { name: value.name, message: value.message, stack: value.stack }
          : value;
    }
    this.#sink.write(`${JSON.stringify(line)}\n`);
  }
}
