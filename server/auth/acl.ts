/**
 * Declarative authorization rules (`ACL_FILE`, JSON or YAML): one implementation of
 * {@link Authorize}, for operators who run the CLI and for hosts that prefer rules to code.
 *
 * ```yaml
 * default: deny                         # what no rule matches: allow or deny
 * rules:                                # first match wins
 *   - destination: /topic/orders.*      # a destination pattern (server/destination-pattern.ts)
 *     commands: [SUBSCRIBE]             # optional: SUBSCRIBE, SEND or both (the default)
 *     allow: { users: [alice, bob] }
 *   - destination: /queue/admin.#
 *     allow: { claims: { role: admin } }
 *   - destination: /user/{user}/queue/#
 *     allow: { claims: { sub: '{user}' } }   # quoted: YAML reads {user} bare as a mapping
 *   - destination: /topic/public.#
 *     allow: anyone                     # or: authenticated, nobody
 * ```
 *
 * A rule matches a frame when its command is listed and its pattern matches the destination as
 * the client sent it; the first matching rule decides, by its `allow`: `anyone`, `authenticated`,
 * `nobody`, or one or a list of alternatives `{ users, claims }` (a list: any alternative; within
 * one: every condition). `users` lists user names; `claims` maps a claim of the principal (a JWT's
 * payload, a host strategy's user object) to a value or a list of values, any of which will do; a
 * claim held as an array holds each element, and a `scope`/`scp` string each whitespace-separated word.
 * Values compare strictly (`3` is not `"3"`). `{name}` in a value is the variable the destination
 * pattern bound. A SUBSCRIBE with RabbitMQ wildcards matches a rule only where the rule covers all
 * the wildcards could reach (see {@link MatchOptions.wildcards}).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DestinationPattern, type DestinationParams } from '../destination-pattern';
import { Errors, relayError } from '../errors';
import type { Principal } from './authenticator';
import type { Authorize, AuthorizationRequest, AuthorizedCommand } from './authorization';
import { hasScope } from './jwt';

type Scalar = string | number | boolean;

/** One condition of an `allow`: every part present must hold. */
interface Alternative {
  users?: readonly string[];
  claims?: ReadonlyArray<{ name: string; values: readonly Scalar[] }>;
}

type Allow = 'anyone' | 'authenticated' | 'nobody' | readonly Alternative[];

interface Rule {
  pattern: DestinationPattern;
  commands: ReadonlySet<AuthorizedCommand>;
  allow: Allow;
}

const COMMANDS: readonly AuthorizedCommand[] = ['SUBSCRIBE', 'SEND'];
const KEYWORDS = ['anyone', 'authenticated', 'nobody'] as const;
const TEMPLATE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export class Acl {
  /** The rules as an {@link Authorize} function, for `createRelay({ authorize })`. */
  readonly authorize: Authorize = (request) => this.decide(request);

  private constructor(
    private readonly rules: readonly Rule[],
    private readonly fallback: boolean,
  ) {}

  /** Number of rules, for the start-up log. */
  get size(): number {
    return this.rules.length;
  }

  /** What no rule matches gets this. */
  get defaultAllows(): boolean {
    return this.fallback;
  }

  /**
   * Reads and checks an ACL file (`.json`, `.yaml` or `.yml`). Throws INVALID_CONFIG naming the
   * file and every problem in it.
   */
  static fromFile(path: string): Acl {
    const extension = extname(path).toLowerCase();
    if (!['.json', '.yaml', '.yml'].includes(extension)) {
      throw relayError(Errors.INVALID_CONFIG, `ACL_FILE ${path}: the name must end with .json, .yaml or .yml`);
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw relayError(
        Errors.INVALID_CONFIG,
        `ACL_FILE ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    let doc: unknown;
    try {
      doc = extension === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
    } catch (err) {
      throw relayError(
        Errors.INVALID_CONFIG,
        `ACL_FILE ${path} is not valid ${extension === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      );
    }
    return Acl.fromObject(doc, `ACL_FILE ${path}`);
  }

  /** Checks parsed rules (see the file comment for the shape). Throws INVALID_CONFIG listing every problem. */
  static fromObject(doc: unknown, source = 'the ACL'): Acl {
    const problems: string[] = [];
    const rules: Rule[] = [];
    let fallback = false;
    if (!isMapping(doc)) {
      problems.push('the top level must be a mapping with "default" and "rules"');
    } else {
      unknownKeys(doc, ['default', 'rules'], '', problems);
      if (doc.default === 'allow' || doc.default === 'deny') fallback = doc.default === 'allow';
      else problems.push(`default: must be "allow" or "deny", got ${show(doc.default)}`);
      if (!Array.isArray(doc.rules)) problems.push(`rules: must be a list, got ${show(doc.rules)}`);
      else
        doc.rules.forEach((raw, i) => {
          const rule = checkRule(raw, `rules[${i}]`, problems);
          if (rule !== undefined) rules.push(rule);
        });
    }
    if (problems.length > 0) {
      const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
      throw relayError(Errors.INVALID_CONFIG, `${source} has ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    return new Acl(rules, fallback);
  }

  /** True when the frame is allowed: the first rule matching its command and destination decides. */
  decide(request: AuthorizationRequest): boolean {
    for (const rule of this.rules) {
      if (!rule.commands.has(request.command)) continue;
      const params = rule.pattern.match(request.destination, { wildcards: true });
      if (params !== null) return allows(rule.allow, request.principal, params);
    }
    return this.fallback;
  }
}

function allows(allow: Allow, principal: Readonly<Principal> | null, params: DestinationParams): boolean {
  if (allow === 'anyone') return true;
  if (allow === 'nobody' || principal === null) return false;
  if (allow === 'authenticated') return true;
  return allow.some((alternative) => holds(alternative, principal, params));
}

function holds(alternative: Alternative, principal: Readonly<Principal>, params: DestinationParams): boolean {
  if (alternative.users !== undefined && !alternative.users.some((u) => fill(u, params) === principal.name)) return false;
  if (alternative.claims !== undefined) {
    const claims = principal.claims ?? {};
    for (const { name, values } of alternative.claims) {
      const held = Object.hasOwn(claims, name) ? claims[name] : undefined;
      if (!values.some((v) => holdsValue(name, held, typeof v === 'string' ? fill(v, params) : v))) return false;
    }
  }
  return true;
}

function holdsValue(name: string, held: unknown, wanted: Scalar): boolean {
  if (held === wanted) return true;
  if (Array.isArray(held)) return held.includes(wanted);
  // OAuth 2 (RFC 6749 §3.3): a scope is a list of words; hasScope (jwt.ts) is the one rule for splitting it.
  if ((name === 'scope' || name === 'scp') && typeof held === 'string' && typeof wanted === 'string')
    return hasScope({ scope: held }, wanted);
  return false;
}

/** Replaces each `{name}` of a template by the bound value. */
function fill(template: string, params: DestinationParams): string {
  return template.includes('{') ? template.replace(TEMPLATE, (_, name: string) => params[name] ?? '') : template;
}

// --- checking a rule ---

function checkRule(raw: unknown, at: string, problems: string[]): Rule | undefined {
  if (!isMapping(raw)) {
    problems.push(`${at}: must be a mapping with "destination" and "allow", got ${show(raw)}`);
    return undefined;
  }
  const before = problems.length;
  unknownKeys(raw, ['destination', 'commands', 'allow'], at, problems);
  let pattern: DestinationPattern | undefined;
  if (typeof raw.destination !== 'string') {
    problems.push(`${at}.destination: must be a destination pattern such as /topic/orders.*, got ${show(raw.destination)}`);
  } else {
    try {
      pattern = DestinationPattern.parse(raw.destination);
    } catch (err) {
      problems.push(`${at}.destination: ${(err as Error).message.replace(/^invalid configuration: /, '')}`);
    }
  }
  const commands = checkCommands(raw.commands, `${at}.commands`, problems);
  let allow: Allow | undefined;
  if (!('allow' in raw)) problems.push(`${at}: "allow" is missing (anyone, authenticated, nobody, or { users, claims })`);
  else allow = checkAllow(raw.allow, `${at}.allow`, pattern, problems);
  if (problems.length > before || pattern === undefined || allow === undefined) return undefined;
  return { pattern, commands, allow };
}

function checkCommands(raw: unknown, at: string, problems: string[]): ReadonlySet<AuthorizedCommand> {
  if (raw === undefined) return new Set(COMMANDS);
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${at}: must be SUBSCRIBE, SEND or a list of them, got ${show(raw)}`);
    return new Set();
  }
  const out = new Set<AuthorizedCommand>();
  list.forEach((c, i) => {
    const upper = typeof c === 'string' ? c.toUpperCase() : undefined;
    if (upper === 'SUBSCRIBE' || upper === 'SEND') out.add(upper);
    else if (upper !== undefined && ['UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT'].includes(upper)) {
      problems.push(`${at}[${i}]: "${c}" is always allowed (only SUBSCRIBE and SEND are authorized)`);
    } else problems.push(`${at}[${i}]: must be SUBSCRIBE or SEND, got ${show(c)}`);
  });
  return out;
}

function checkAllow(raw: unknown, at: string, pattern: DestinationPattern | undefined, problems: string[]): Allow | undefined {
  if (typeof raw === 'string') {
    if ((KEYWORDS as readonly string[]).includes(raw)) return raw as Allow;
    problems.push(`${at}: must be ${KEYWORDS.join(', ')} or { users, claims }, got ${show(raw)}`);
    return undefined;
  }
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) {
    problems.push(`${at}: an empty list allows nobody; write "nobody"`);
    return undefined;
  }
  const alternatives: Alternative[] = [];
  list.forEach((item, i) => {
    const where = Array.isArray(raw) ? `${at}[${i}]` : at;
    const alternative = checkAlternative(item, where, pattern, problems);
    if (alternative !== undefined) alternatives.push(alternative);
  });
  return alternatives.length === list.length ? alternatives : undefined;
}

function checkAlternative(raw: unknown, at: string, pattern: DestinationPattern | undefined, problems: string[]): Alternative | undefined {
  if (!isMapping(raw)) {
    problems.push(`${at}: must be ${KEYWORDS.join(', ')} or a mapping with users and/or claims, got ${show(raw)}`);
    return undefined;
  }
  const before = problems.length;
  unknownKeys(raw, ['users', 'claims'], at, problems);
  if (raw.users === undefined && raw.claims === undefined) problems.push(`${at}: needs users, claims or both`);
  const alternative: Alternative = {};
  if (raw.users !== undefined) {
    const users = typeof raw.users === 'string' ? [raw.users] : raw.users;
    if (!Array.isArray(users) || users.length === 0 || !users.every((u) => typeof u === 'string' && u !== '')) {
      problems.push(`${at}.users: must be a non-empty list of user names, got ${show(raw.users)}`);
    } else {
      users.forEach((u: string) => checkTemplate(u, `${at}.users`, pattern, problems));
      alternative.users = users as string[];
    }
  }
  if (raw.claims !== undefined) {
    if (!isMapping(raw.claims) || Object.keys(raw.claims).length === 0) {
      problems.push(`${at}.claims: must be a mapping of claim names to values, got ${show(raw.claims)}`);
    } else {
      const claims: Array<{ name: string; values: Scalar[] }> = [];
      for (const [name, value] of Object.entries(raw.claims)) {
        const values = checkClaimValues(value, `${at}.claims.${name}`, pattern, problems);
        if (values !== undefined) claims.push({ name, values });
      }
      alternative.claims = claims;
    }
  }
  return problems.length > before ? undefined : alternative;
}

function checkClaimValues(raw: unknown, at: string, pattern: DestinationPattern | undefined, problems: string[]): Scalar[] | undefined {
  if (isMapping(raw) && Object.keys(raw).length === 1 && Object.values(raw)[0] === null) {
    const name = Object.keys(raw)[0];
    problems.push(`${at}: YAML read {${name}} as a mapping; put the template in quotes: '{${name}}'`);
    return undefined;
  }
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length === 0 || !values.every(isScalar)) {
    problems.push(`${at}: must be a string, number, boolean or a non-empty list of them, got ${show(raw)}`);
    return undefined;
  }
  for (const v of values) if (typeof v === 'string') checkTemplate(v, at, pattern, problems);
  return values as Scalar[];
}

/** Every `{name}` in `template` must be a variable `pattern` binds. */
function checkTemplate(template: string, at: string, pattern: DestinationPattern | undefined, problems: string[]): void {
  if (pattern === undefined) return; // its own problem is reported already
  for (const [, name] of template.matchAll(TEMPLATE)) {
    if (!pattern.variables.includes(name)) problems.push(`${at}: {${name}} is not a variable of ${pattern.source}`);
  }
}

function unknownKeys(raw: Record<string, unknown>, known: readonly string[], at: string, problems: string[]): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) problems.push(`${at === '' ? '' : at + ': '}unknown key "${key}" (expected ${known.join(', ')})`);
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}
