/**
 * Resume tokens of the RabbitMQ history (stream-history.ts), and which stream a destination's
 * history lives in.
 *
 * A token is `r1.<P>.<p>.<ms>.<tag>.<seq>`: the partition count and partition it was recorded in,
 * when (ms since the epoch, base 36, the recording instance's clock), the recording broker
 * object's random tag and its record counter (base 36). Unique (tag + counter), increasing per
 * publisher, and it says where a replay starts reading (the time). Clients see it as opaque; the
 * relay trusts nothing in it: a token is only ever looked up in the stream, never believed.
 */
import { randomBytes } from 'node:crypto';

const VERSION = 'r1';
const TIME = /^[0-9a-z]{1,11}$/;
const TAG = /^[0-9a-f]{8}$/;
const SEQ = /^[0-9a-z]{1,11}$/;
const COUNT = /^[0-9]{1,2}$/;

/** What a well-formed token says. */
export interface ParsedToken {
  readonly partitions: number;
  readonly partition: number;
  /** Record time (ms), as the recording instance's clock read it. */
  readonly at: number;
}

/**
 * The partition (0..partitions-1) of a broker destination: FNV-1a over its UTF-16 code units, so
 * every instance of every version puts one destination in the same stream.
 */
export function partitionOf(destination: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < destination.length; i++) {
    hash ^= destination.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** Issues the tokens of one broker object: its own tag, a counter. */
export class TokenIssuer {
  private readonly tag = randomBytes(4).toString('hex');
  private seq = 0;

  constructor(private readonly partitions: number) {}

  next(partition: number, at: number): string {
    return `${VERSION}.${this.partitions}.${partition}.${at.toString(36)}.${this.tag}.${(++this.seq).toString(36)}`;
  }
}

/**
 * What `token` says, or undefined when it is not one of ours: malformed, made for another
 * partition count (the destination's stream has changed), or from the future beyond `skewMs`.
 */
export function parseToken(token: string, partitions: number, now: number, skewMs: number): ParsedToken | undefined {
  if (token.length > 64) return undefined;
  const parts = token.split('.');
  if (parts.length !== 6 || parts[0] !== VERSION) return undefined;
  const [, count, part, time, tag, seq] = parts;
  if (!COUNT.test(count) || !COUNT.test(part) || !TIME.test(time) || !TAG.test(tag) || !SEQ.test(seq)) return undefined;
  if (Number(count) !== partitions) return undefined;
  const partition = Number(part);
  const at = parseInt(time, 36);
  if (partition >= partitions || at > now + skewMs) return undefined;
  return { partitions, partition, at };
}

/** The record time a token carries, or undefined (for tokens read back from a stream). */
export function tokenTime(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 6 || !TIME.test(parts[3])) return undefined;
  return parseInt(parts[3], 36);
}
