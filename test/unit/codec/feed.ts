/** Test helpers: run bytes through a StompParser under different chunkings and collect what it saw. */
import { StompParser } from '../../../server/codec/parser';
import type { ParserLimits, StompFrame, StompVersion } from '../../../server/codec/frame';

/** What a parser reported, in order: frames, and `'heartbeat'` for each bare EOL. */
export type Event = StompFrame | 'heartbeat';

export interface Collector {
  parser: StompParser;
  events: Event[];
  frames(): StompFrame[];
}

export function collector(limits?: Partial<ParserLimits>, version?: StompVersion): Collector {
  const events: Event[] = [];
  const parser = new StompParser(
    { onFrame: (f) => events.push(f), onHeartbeat: () => events.push('heartbeat') },
    limits
  );
  if (version) parser.version = version;
  return { parser, events, frames: () => events.filter((e): e is StompFrame => e !== 'heartbeat') };
}

/** Splits `bytes` at the given cut points (sorted, within range) into fresh, independent buffers. */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut < from) continue;
    out.push(Buffer.from(bytes.subarray(from, cut)));
    from = cut;
  }
  return out;
}

/** Every byte its own chunk. */
export function bytewise(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(Buffer.from([bytes[i]]));
  return out;
}

/** Deterministic pseudo-random chunk boundaries (mulberry32), so a failure reproduces. */
export function randomChunks(bytes: Buffer, seed: number, maxChunk = 17): Buffer[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const cuts: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    at += 1 + Math.floor(rand() * maxChunk);
    if (at < bytes.length) cuts.push(at);
  }
  return splitAt(bytes, cuts);
}

/** Parses `bytes` fed as `chunks` and returns the events. Throws what the parser throws. */
export function parseChunks(chunks: Buffer[], limits?: Partial<ParserLimits>, version?: StompVersion): Event[] {
  const c = collector(limits, version);
  for (const chunk of chunks) c.parser.push(chunk);
  return c.events;
}

/** A frame as plain data for deep equality (headers without the null prototype, body as bytes). */
export function plain(e: Event): unknown {
  if (e === 'heartbeat') return e;
  return { command: e.command, headers: { ...e.headers }, body: [...e.body] };
}
