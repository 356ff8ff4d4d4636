/**
 * One copy of the equal short strings many sessions keep for as long as they last: the subscription
 * ids (`sub-0`) and destinations (`/topic/prices`, `/user/queue/errors`) of SUBSCRIBE frames. Each
 * frame's header values are strings of their own (24–40 bytes each, per subscription, for the
 * subscription's life); through this table every subscription to `/topic/prices` holds the same one.
 *
 * Bounded, so a client cannot grow it: at most {@link capacity} strings of at most
 * {@link maxLength} characters, and once full it starts again with an empty table (a burst of
 * unique strings costs sharing, never memory). One per session hub (nothing module-global).
 */
export class StringInterner {
  private table = new Map<string, string>();

  constructor(
    /** Most strings kept at once. */
    readonly capacity = 4096,
    /** Longer strings are returned as they are (rarely shared, and not worth a table slot). */
    readonly maxLength = 128,
  ) {}

  /** `value`, or the equal string interned earlier. */
  intern(value: string): string {
    if (value.length > this.maxLength) return value;
    const known = this.table.get(value);
    if (known !== undefined) return known;
    if (this.table.size >= this.capacity) this.table = new Map();
    this.table.set(value, value);
    return value;
  }

  /** How many strings the table holds now. */
  get size(): number {
    return this.table.size;
  }
}
