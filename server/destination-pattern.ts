/**
 * Destination patterns: one syntax for application handlers (`relay.onMessage('/chat/{room}')`,
 * `relay.onSubscribe('/snapshot/{id}')`, Spring's `@DestinationVariable`) and authorization rules
 * (`ACL_FILE`). A shared leaf: it knows nothing but strings.
 *
 * - Literal text matches itself.
 * - `{name}` matches one or more characters other than `/`, the fewest that let the rest of the
 *   pattern match, and binds them as `params.name` (`/user/{user}/queue/#` binds `alice.smith`,
 *   `/topic/tenant.{tenant}.#` binds `acme` in `/topic/tenant.acme.news`).
 * - `*` matches one word: one or more characters other than `/` and `.` (RabbitMQ's topic `*`).
 * - `#` matches any number of words, none included, with the separator before it:
 *   `/queue/admin.#` matches `/queue/admin`, `/queue/admin.jobs` and `/queue/admin.jobs.nightly`.
 *
 * `*` and `#` must be whole words (between `.` or `/`); two wildcards or variables may not touch.
 */
import { Errors, relayError } from './errors';

/** The variables a destination template bound: `/chat/{room}` matching `/chat/lobby` gives `{ room: 'lobby' }`. */
export type DestinationParams = Readonly<Record<string, string>>;

export interface MatchOptions {
  /**
   * The destination may itself hold RabbitMQ wildcard words (a SUBSCRIBE to `/topic/orders.#`):
   * then it matches only where the pattern covers every destination the wildcards could mean. A
   * `{name}` or `*` never takes a `#` word, and a `{name}` never takes a `*` word, so a rule for
   * `/topic/tenant.{tenant}.#` cannot be stretched to every tenant with `/topic/tenant.*.news`.
   */
  wildcards?: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EMPTY_PARAMS: DestinationParams = Object.freeze(Object.create(null) as Record<string, string>);

export class DestinationPattern {
  /** The pattern as written. */
  readonly source: string;
  /** Names of the `{name}` variables, in order. */
  readonly variables: readonly string[];
  /** True when the pattern has no variable and no wildcard: it matches only itself. */
  readonly literal: boolean;
  private readonly regex: RegExp;
  /** For each capture group: a variable's name, or null for a `*`. */
  private readonly groups: ReadonlyArray<string | null>;

  private constructor(source: string, regex: RegExp, groups: Array<string | null>, literal: boolean) {
    this.source = source;
    this.regex = regex;
    this.groups = groups;
    this.variables = Object.freeze(groups.filter((g): g is string => g !== null));
    this.literal = literal;
  }

  /** Parses `source`; throws INVALID_CONFIG naming what is wrong with it. */
  static parse(source: string): DestinationPattern {
    const problem = (why: string) => relayError(Errors.INVALID_CONFIG, `destination pattern "${source}": ${why}`);
    if (typeof source !== 'string' || !source.startsWith('/')) throw problem('must start with "/"');
    let regex = '^';
    const groups: Array<string | null> = [];
    let literal = true;
    /** The previous token was a variable or wildcard (two in a row would be ambiguous). */
    let afterVariable = false;
    for (let i = 0; i < source.length;) {
      const c = source[i];
      const before = source[i - 1];
      if (c === '{') {
        const end = source.indexOf('}', i);
        if (end === -1) throw problem(`"{" at ${i} is not closed`);
        const name = source.slice(i + 1, end);
        if (!NAME.test(name)) throw problem(`"{${name}}" is not a variable name (letters, digits, _; not starting with a digit)`);
        if (groups.includes(name)) throw problem(`{${name}} appears twice`);
        if (afterVariable) throw problem(`{${name}} follows another variable or wildcard directly`);
        regex += '([^/]+?)';
        groups.push(name);
        literal = false;
        afterVariable = true;
        i = end + 1;
        continue;
      }
      if (c === '}') throw problem(`"}" at ${i} closes nothing`);
      if (c === '*' || c === '#') {
        const after = source[i + 1];
        if (!isSeparator(before) || (after !== undefined && !isSeparator(after))) {
          throw problem(`"${c}" must be a whole word, between "." or "/" (at ${i})`);
        }
        if (afterVariable) throw problem(`"${c}" follows a variable directly`);
        if (c === '*') {
          regex += '([^/.]+)';
          groups.push(null);
        } else if (after !== undefined) {
          // `a.#.z` matches `a.z` too: the words `#` stands for and the separator after them go together.
          regex += `(?:.*${escapeRegex(after)})?`;
          literal = false;
          afterVariable = false;
          i += 2;
          continue;
        } else {
          // At the end, the separator before `#` goes with it: `admin.#` matches `admin` too.
          regex = regex.slice(0, -escapeRegex(before).length) + `(?:${escapeRegex(before)}.*)?`;
        }
        literal = false;
        afterVariable = true;
        i++;
        continue;
      }
      regex += escapeRegex(c);
      afterVariable = false;
      i++;
    }
    return new DestinationPattern(source, new RegExp(regex + '$', 's'), groups, literal);
  }

  /** The variables' values when `destination` matches, else null. */
  match(destination: string, options: MatchOptions = {}): DestinationParams | null {
    if (this.literal) return destination === this.source ? EMPTY_PARAMS : null;
    const m = this.regex.exec(destination);
    if (m === null) return null;
    const params: Record<string, string> = Object.create(null);
    for (let g = 0; g < this.groups.length; g++) {
      const name = this.groups[g];
      const value = m[g + 1];
      if (options.wildcards && !covers(name, value)) return null;
      if (name !== null) params[name] = value;
    }
    return Object.freeze(params);
  }
}

function isSeparator(c: string | undefined): c is string {
  return c === '.' || c === '/';
}

/** Whether a `{name}` (name set) or `*` (null) taking `value` covers what its wildcard words mean. */
function covers(name: string | null, value: string): boolean {
  for (const word of value.split(/[./]/)) {
    if (word === '#') return false;
    if (word === '*' && name !== null) return false;
  }
  return true;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
