/**
 * Handlers by destination, exact or templated (`/chat/{room}`): what `relay.onMessage` and
 * `relay.onSubscribe` register into. An exact destination always wins over a template, whatever
 * the order of registration; templates are tried in the order they were registered.
 */
import { DestinationPattern, type DestinationParams } from '../destination-pattern';
import { Errors, relayError } from '../errors';

export interface Mapped<T> {
  readonly value: T;
  /** The template's variables (empty for an exact destination). */
  readonly params: DestinationParams;
}

export class Mappings<T> {
  private readonly exact = new Map<string, Mapped<T>>();
  private readonly templates: Array<{ pattern: DestinationPattern; value: T }> = [];

  /** Adds `value` for `destination` (a destination or a template); INVALID_CONFIG if malformed or taken. */
  add(destination: string, value: T): void {
    const pattern = DestinationPattern.parse(destination);
    const taken = pattern.literal ? this.exact.has(destination) : this.templates.some((t) => t.pattern.source === destination);
    if (taken) throw relayError(Errors.INVALID_CONFIG, `a handler for ${destination} is already registered`);
    if (pattern.literal) this.exact.set(destination, { value, params: pattern.match(destination)! });
    else this.templates.push({ pattern, value });
  }

  /** What `destination` maps to, with the variables the template bound; undefined for nothing. */
  find(destination: string): Mapped<T> | undefined {
    const exact = this.exact.get(destination);
    if (exact !== undefined) return exact;
    for (const { pattern, value } of this.templates) {
      const params = pattern.match(destination);
      if (params !== null) return { value, params };
    }
    return undefined;
  }
}
