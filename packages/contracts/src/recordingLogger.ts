import type { LogFields, Logger } from './logger.js';

/** One line captured by a {@link RecordingLogger}. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string | undefined;
  fields: LogFields;
}

/**
 * A {@link Logger} that keeps every line in `records`, with child bindings merged in, so tests can assert
 * on what was logged.
 */
export class RecordingLogger implements Logger {
  readonly records: LogRecord[];
  readonly #bindings: LogFields;

  constructor(bindings: LogFields = {}, records: LogRecord[] = []) {
    this.#bindings = bindings;
    this.records = records;
  }

  debug = this.#method('debug');
  info = this.#method('info');
  warn = this.#method('warn');
  error = this.#method('error');

  child(bindings: LogFields): Logger {
    return new RecordingLogger({ ...this.#bindings, ...bindings }, this.records);
  }

  /** The captured lines of one level. */
  at(level: LogRecord['level']): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }

  #method(level: LogRecord['level']) {
    return (fieldsOrMsg: LogFields | string, msg?: string): void => {
      const fields = typeof fieldsOrMsg === 'string' ? {} : fieldsOrMsg;
      const text = typeof fieldsOrMsg === 'string' ? fieldsOrMsg : msg;
      this.records.push({ level, msg: text, fields: { ...this.#bindings, ...fields } });
    };
  }
}
