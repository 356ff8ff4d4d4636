/**
 * A pino logger whose lines the test reads back: raw (to see the JSON exactly as written, duplicate
 * keys included) and parsed.
 */
import pino from 'pino';
import type { Logger } from '../../server/observability/logger';

export interface CapturedLogs {
  logger: Logger;
  /** Every line as written. */
  readonly raw: string[];
  /** Every line, parsed. */
  records(): Array<Record<string, unknown> & { level: number; msg?: string }>;
}

/** Like createLogger(level), writing into memory. */
export function captureLogs(level = 'debug'): CapturedLogs {
  const raw: string[] = [];
  const logger = pino({ level, base: { service: 'stomp-relay' } }, { write: (line: string) => { raw.push(line.trimEnd()); } });
  return { logger, raw, records: () => raw.map((l) => JSON.parse(l)) };
}

/** Keys that occur more than once in one object of a JSON text (at any depth). */
export function duplicateKeys(json: string): string[] {
  const dups: string[] = [];
  const stack: Array<Set<string> | null> = [];
  let i = 0;
  let expectKey = false;
  while (i < json.length) {
    const c = json[i];
    if (c === '{') { stack.push(new Set()); expectKey = true; i++; continue; }
    if (c === '[') { stack.push(null); expectKey = false; i++; continue; }
    if (c === '}' || c === ']') { stack.pop(); i++; continue; }
    if (c === ',') { expectKey = stack.at(-1) instanceof Set; i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const str = JSON.parse(json.slice(i, j + 1)) as string;
      const keys = stack.at(-1);
      if (expectKey && keys instanceof Set) {
        if (keys.has(str)) dups.push(str);
        keys.add(str);
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    i++;
  }
  return dups;
}
