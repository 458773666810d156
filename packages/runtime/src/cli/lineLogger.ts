import type { LogFields, LogFn, Logger } from '@ordo/contracts';
import type { CliOutput } from './io.js';

/**
 * A {@link Logger} that writes one line a message to `out` (the CLI's stderr):
 * `<prefix>: <level>: <message> {fields}`, an `err` field shown as its message and code. The runtime's
 * `log.level` filters what reaches it.
 */
export function createLineLogger(out: CliOutput, prefix: string, bindings: LogFields = {}): Logger {
  const line = (level: string): LogFn =>
    ((first: LogFields | string, second?: string): void => {
      const fields = typeof first === 'string' ? {} : first;
      const msg = typeof first === 'string' ? first : second;
      const shown: LogFields = { ...bindings, ...fields };
      const err = shown.err;
      if (err instanceof Error) {
        const code = (err as { code?: unknown }).code;
        shown.err = typeof code === 'string' ? `${code}: ${err.message}` : err.message;
      }
      let tail = '';
      try {
        tail = Object.keys(shown).length > 0 ? ` ${JSON.stringify(shown)}` : '';
      } catch {
        tail = ' {unprintable fields}';
      }
      out.write(`${prefix}: ${level}: ${msg ?? ''}${tail}\n`);
    }) as LogFn;
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    child: (more) => createLineLogger(out, prefix, { ...bindings, ...more }),
  };
}
