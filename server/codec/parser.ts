/**
 * Incremental STOMP frame parser: bytes in, {@link StompFrame}s out. Knows nothing of sockets.
 *
 * A state machine over the chunks it is pushed (compare websockets/ws `lib/receiver.js`): it scans each
 * chunk in place with `indexOf` and hands out views of it, and copies only what spans chunks (a header
 * line cut in two, a body that arrives in pieces). Every limit is checked before bytes are kept, so a
 * peer can never make it hold more than `maxFrameBytes` of one frame.
 *
 * Grammar (https://stomp.github.io/stomp-specification-1.2.html#Augmented_BNF):
 *
 *     frame   = command EOL *(header EOL) EOL body NUL *(EOL)
 *     EOL     = [CR] LF
 *
 * Bare EOLs between frames are heart-beats.
 */
import { isUtf8 } from 'node:buffer';
import { relayError, Errors, type RelayError } from '../errors';
import { DEFAULT_PARSER_LIMITS, headers, type ParserLimits, type StompFrame, type StompHeaders, type StompVersion } from './frame';
import { isDigits } from './digits';
import { printableExcerpt } from './excerpt';
import { unescapeHeader, usesEscaping } from './header-escaping';

/** Receives what the parser recognises, synchronously, in stream order. */
export interface ParserHandler {
  /**
   * A complete frame; `frameBytes` is its size on the wire (command, headers, body). The frame, its
   * headers and its body are the handler's to keep.
   */
  onFrame(frame: StompFrame, frameBytes: number): void;
  /** A bare EOL between frames (a heart-beat from the peer). */
  onHeartbeat?(): void;
}

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

const EMPTY_BODY = Buffer.alloc(0);

/** Carried pieces kept as plain views before small ones start being copied together. */
const VIEWS_BEFORE_COALESCING = 16;
/** Pieces at least this large are always kept as views. */
const COALESCE_BELOW_BYTES = 1024;
/** Size of each buffer small pieces are copied into. */
const SCRATCH_BYTES = 16 * 1024;

/** Where the parser is within the current frame. */
const enum State {
  /** Reading command letters (or, with none read yet, skipping heart-beats). */
  Command,
  /** Read a CR on the command line; only LF may follow. */
  CommandCr,
  /** Reading header lines until an empty one. */
  Headers,
  /** Reading a body of exactly `content-length` bytes. */
  FixedBody,
  /** Read a `content-length` body; only NUL may follow. */
  FixedBodyEnd,
  /** Reading a body up to the first NUL (no `content-length`). */
  NulBody,
}

/**
 * Parses a byte stream into frames; one parser per connection.
 *
 * Limits ({@link ParserLimits}): a frame's size is its command line, header lines and body, EOLs
 * included (not the closing NUL, not heart-beats). `maxHeaderLineBytes` applies to the command line
 * and to each header line, not counting the EOL. A frame fails as soon as it is known to exceed a
 * limit: a declared `content-length` too big fails before any body byte is read; a streamed body
 * fails when it crosses the limit; an unfinished line fails when it grows past the line limit.
 *
 * Pushed chunks are scanned in place and the frames handed out may be views of them: a caller must
 * not modify a chunk after pushing it (sockets, `ws` and `sockjs` all hand out fresh buffers, so
 * passing theirs on is fine). The parser never writes to a buffer it has handed out.
 */
export class StompParser {
  /**
   * Escaping rules for frames other than CONNECT/STOMP/CONNECTED. Default '1.2'; the session sets it
   * after negotiation (from inside `onFrame`, so the next frame of the same chunk already uses it).
   */
  version: StompVersion = '1.2';

  private readonly handler: ParserHandler;
  private readonly limits: Readonly<ParserLimits>;
  private failure: { error: unknown } | undefined;

  private state = State.Command;
  /** Bytes of the current frame so far: command, header lines and body, EOLs included, NUL excluded. */
  private frameBytes = 0;
  private command = '';
  private headers: StompHeaders | undefined;
  /** Whether this frame's headers are unescaped (fixed when its command line ends). */
  private escaping = true;
  private headerCount = 0;
  /**
   * Pieces of a line or body that started in an earlier chunk (views, copied once when complete);
   * made when a piece is first carried and dropped once taken (an idle connection keeps none).
   */
  private carried: Buffer[] | undefined;
  private carriedBytes = 0;
  /** Where small carried pieces are copied together (see {@link StompParser.carry}). */
  private scratch: Buffer | undefined;
  private scratchStart = 0;
  private scratchEnd = 0;
  /** Body bytes still to read in {@link State.FixedBody}. */
  private bodyRemaining = 0;
  private body: Buffer = EMPTY_BODY;

  constructor(handler: ParserHandler, limits?: Partial<ParserLimits>) {
    this.handler = handler;
    this.limits = settledLimits(limits);
  }

  /**
   * Between frames, with nothing of the next one read (no command letter, no CR of an EOL) and not
   * failed: what is left of the stream so far is complete, so a new parser would read what follows
   * exactly as this one (the caller may let go of it while the peer only sends heart-beats).
   */
  get atRest(): boolean {
    return this.state === State.Command && this.command === '' && this.failure === undefined;
  }

  /**
   * Feeds bytes (may hold part of a frame or many frames). Calls the handler for each frame and
   * heart-beat completed. Throws RelayError on a violation; after that the parser is failed and every
   * further push throws the same error. An exception thrown by the handler propagates the same way.
   */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure.error;
    try {
      this.parse(chunk);
    } catch (error) {
      this.failure = { error };
      throw error;
    }
  }

  private parse(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.state) {
        case State.Command:
          offset = this.readCommand(chunk, offset);
          break;
        case State.CommandCr:
          if (chunk[offset] !== LF) throw this.invalidCommand(chunk, offset);
          offset = this.endCommandLine(offset + 1, 2);
          break;
        case State.Headers:
          offset = this.readHeaderLine(chunk, offset);
          break;
        case State.FixedBody:
          offset = this.readFixedBody(chunk, offset);
          break;
        case State.FixedBodyEnd:
          if (chunk[offset] !== NUL) throw relayError(Errors.BODY_LONGER_THAN_CONTENT_LENGTH);
          offset = this.emitFrame(offset + 1);
          break;
        case State.NulBody:
          offset = this.readNulBody(chunk, offset);
          break;
      }
    }
  }

  // --- command line -------------------------------------------------------------------------------

  private readCommand(chunk: Buffer, offset: number): number {
    let i = offset;
    const length = chunk.length;
    for (; i < length; i++) {
      const b = chunk[i] | 0x20; // ASCII lower-case
      if (b < 0x61 || b > 0x7a) break;
    }
    if (i > offset) {
      this.frameBytes += i - offset;
      if (this.frameBytes > this.limits.maxHeaderLineBytes) {
        throw relayError(Errors.HEADER_LINE_TOO_LONG, this.limits.maxHeaderLineBytes);
      }
      if (this.frameBytes > this.limits.maxFrameBytes) throw this.frameTooLarge();
      this.command += chunk.toString('latin1', offset, i);
    }
    if (i === length) return i;

    const b = chunk[i];
    if (b === LF) return this.endCommandLine(i + 1, 1);
    if (b === CR) {
      this.state = State.CommandCr;
      return i + 1;
    }
    throw this.invalidCommand(chunk, i);
  }

  /** The command line (or a heart-beat) ended with an EOL of `eolBytes` bytes. */
  private endCommandLine(offset: number, eolBytes: number): number {
    if (this.command === '') {
      this.state = State.Command;
      this.handler.onHeartbeat?.();
      return offset;
    }
    this.frameBytes += eolBytes;
    if (this.frameBytes > this.limits.maxFrameBytes) throw this.frameTooLarge();
    this.state = State.Headers;
    this.escaping = usesEscaping(this.command, this.version);
    this.headers = headers();
    this.headerCount = 0;
    return offset;
  }

  private invalidCommand(chunk: Buffer, badAt: number): RelayError {
    const seen = Buffer.concat([
      Buffer.from(this.command, 'latin1'),
      this.state === State.CommandCr ? Buffer.from('\r') : EMPTY_BODY,
      chunk.subarray(badAt),
    ]);
    return relayError(Errors.INVALID_COMMAND, printableExcerpt(seen));
  }

  // --- headers ------------------------------------------------------------------------------------

  private readHeaderLine(chunk: Buffer, offset: number): number {
    const { maxHeaderLineBytes, maxFrameBytes } = this.limits;
    const lf = chunk.indexOf(LF, offset);
    if (lf === -1) {
      // The line continues in a later chunk. Keep it only while it can still be within the limits
      // (one extra byte: it may be the CR of a CRLF).
      const n = chunk.length - offset;
      if (this.carriedBytes + n > maxHeaderLineBytes + 1) throw relayError(Errors.HEADER_LINE_TOO_LONG, maxHeaderLineBytes);
      if (this.frameBytes + this.carriedBytes + n > maxFrameBytes) throw this.frameTooLarge();
      this.carry(chunk.subarray(offset));
      return chunk.length;
    }

    let line = chunk;
    let start = offset;
    let end = lf;
    if (this.carriedBytes > 0) {
      line = this.takeCarried(chunk.subarray(offset, lf));
      start = 0;
      end = line.length;
    }
    this.frameBytes += end - start + 1;
    if (end > start && line[end - 1] === CR) end--;
    if (end - start > maxHeaderLineBytes) throw relayError(Errors.HEADER_LINE_TOO_LONG, maxHeaderLineBytes);
    if (this.frameBytes > maxFrameBytes) throw this.frameTooLarge();

    if (end === start) this.endHeaders();
    else this.addHeader(line, start, end);
    return lf + 1;
  }

  private addHeader(line: Buffer, start: number, end: number): void {
    if (++this.headerCount > this.limits.maxHeaders) throw relayError(Errors.TOO_MANY_HEADERS, this.limits.maxHeaders);
    // One pass finds the colon and whether any byte is non-ASCII: most header lines are pure ASCII,
    // which decodes fastest as latin1 and needs no UTF-8 validation.
    let colon = -1;
    let bits = 0;
    for (let i = start; i < end; i++) {
      const c = line[i];
      bits |= c;
      if (c === COLON && colon === -1) colon = i;
    }
    if (colon === -1) throw relayError(Errors.HEADER_WITHOUT_COLON, printableExcerpt(line, start, end));
    let encoding: 'latin1' | 'utf8' = 'latin1';
    if (bits & 0x80) {
      if (!isUtf8(line.subarray(start, end))) throw relayError(Errors.INVALID_UTF8);
      encoding = 'utf8';
    }

    let name = line.toString(encoding, start, colon);
    let value = line.toString(encoding, colon + 1, end);
    if (this.escaping) {
      name = unescapeHeader(name, this.version);
      value = unescapeHeader(value, this.version);
    }
    const target = this.headers as StompHeaders;
    // Repeated header: the first occurrence wins (STOMP 1.2 "Repeated Header Entries").
    if (target[name] === undefined) target[name] = value;
  }

  private endHeaders(): void {
    const declared = (this.headers as StompHeaders)['content-length'];
    if (declared === undefined) {
      this.state = State.NulBody;
      return;
    }
    const length = parseContentLength(declared);
    // Refuse a frame that says up front it will be too large, before reading any of its body.
    if (length > this.limits.maxFrameBytes - this.frameBytes) throw this.frameTooLarge();
    this.frameBytes += length;
    this.bodyRemaining = length;
    this.state = length === 0 ? State.FixedBodyEnd : State.FixedBody;
  }

  // --- body ---------------------------------------------------------------------------------------

  private readFixedBody(chunk: Buffer, offset: number): number {
    const available = chunk.length - offset;
    const take = available < this.bodyRemaining ? available : this.bodyRemaining;
    const end = offset + take;
    this.bodyRemaining -= take;
    if (this.bodyRemaining === 0) {
      this.body = this.takeCarried(chunk.subarray(offset, end));
      this.state = State.FixedBodyEnd;
    } else {
      this.carry(chunk.subarray(offset, end));
    }
    return end;
  }

  private readNulBody(chunk: Buffer, offset: number): number {
    const allowed = this.limits.maxFrameBytes - this.frameBytes;
    // Look for the NUL only as far as the frame may still reach, so an oversized body fails as soon
    // as it crosses the limit, without scanning or keeping the rest.
    const scanEnd = chunk.length - offset > allowed + 1 ? offset + allowed + 1 : chunk.length;
    const nul = scanEnd === chunk.length ? chunk.indexOf(NUL, offset) : chunk.subarray(0, scanEnd).indexOf(NUL, offset);
    const end = nul === -1 ? scanEnd : nul;
    if (end - offset > allowed) throw this.frameTooLarge();
    this.frameBytes += end - offset;
    if (nul === -1) {
      this.carry(chunk.subarray(offset, end));
      return end;
    }
    this.body = this.takeCarried(chunk.subarray(offset, nul));
    return this.emitFrame(nul + 1);
  }

  /**
   * Keeps a piece of a line or body that continues in a later chunk. Pieces are kept as views, except
   * that once a frame has arrived in many pieces, small ones are copied together: a peer sending a
   * body one byte per WebSocket message must not make us hold a million tiny buffers.
   */
  private carry(piece: Buffer): void {
    const n = piece.length;
    if (n === 0) return;
    this.carriedBytes += n;
    const carried = (this.carried ??= []);
    if (carried.length < VIEWS_BEFORE_COALESCING || n >= COALESCE_BELOW_BYTES) {
      this.flushScratch();
      carried.push(piece);
      return;
    }
    let scratch = this.scratch;
    if (scratch === undefined || this.scratchEnd + n > scratch.length) {
      this.flushScratch();
      scratch = this.scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
      this.scratchStart = this.scratchEnd = 0;
    }
    piece.copy(scratch, this.scratchEnd);
    this.scratchEnd += n;
  }

  /** Moves the filled part of the scratch buffer into `carried`; later pieces go after it. */
  private flushScratch(): void {
    if (this.scratch !== undefined && this.scratchEnd > this.scratchStart) {
      (this.carried ??= []).push(this.scratch.subarray(this.scratchStart, this.scratchEnd));
      this.scratchStart = this.scratchEnd;
    }
  }

  /** The whole line or body: `last` alone when nothing was carried, else one copy of all pieces. */
  private takeCarried(last: Buffer): Buffer {
    if (this.carriedBytes === 0) return last.length === 0 ? EMPTY_BODY : last;
    this.flushScratch();
    const carried = this.carried ?? [];
    carried.push(last);
    const whole = Buffer.concat(carried, this.carriedBytes + last.length);
    this.carried = undefined;
    this.carriedBytes = 0;
    this.scratch = undefined;
    return whole;
  }

  // --- frame end ----------------------------------------------------------------------------------

  private emitFrame(offset: number): number {
    const frame: StompFrame = { command: this.command, headers: this.headers as StompHeaders, body: this.body };
    const frameBytes = this.frameBytes;
    // Reset before calling out, so the handler sees (and may change `version` for) a parser that is
    // ready for the next frame.
    this.state = State.Command;
    this.frameBytes = 0;
    this.command = '';
    this.headers = undefined;
    this.body = EMPTY_BODY;
    this.handler.onFrame(frame, frameBytes);
    return offset;
  }

  private frameTooLarge(): RelayError {
    return relayError(Errors.FRAME_TOO_LARGE, this.limits.maxFrameBytes);
  }
}

const LIMIT_KEYS = ['maxFrameBytes', 'maxHeaders', 'maxHeaderLineBytes'] as const;

/**
 * The parser's limits: `limits` itself when it is frozen and names all three (a relay's config:
 * every session's parser then shares one object), else a frozen copy over the defaults.
 */
function settledLimits(limits: Partial<ParserLimits> | undefined): Readonly<ParserLimits> {
  if (limits !== undefined && Object.isFrozen(limits) && LIMIT_KEYS.every((key) => typeof limits[key] === 'number')) {
    return limits as Readonly<ParserLimits>;
  }
  const merged: ParserLimits = { ...DEFAULT_PARSER_LIMITS };
  for (const key of LIMIT_KEYS) {
    const value = limits?.[key];
    if (value !== undefined) merged[key] = value;
  }
  return Object.freeze(merged);
}

/**
 * Whether `chunk` is nothing but complete EOLs (LF or CR LF): heart-beats, which a parser
 * {@link StompParser.atRest} reads without changing anything.
 */
export function isHeartbeatOnly(chunk: Buffer): boolean {
  const length = chunk.length;
  for (let i = 0; i < length; i++) {
    const b = chunk[i];
    if (b === LF) continue;
    if (b === CR && i + 1 < length && chunk[i + 1] === LF) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

/** `content-length` must be a non-negative decimal integer: digits only, no sign, no spaces. */
function parseContentLength(text: string): number {
  const n = text.length;
  if (!isDigits(text)) throw relayError(Errors.INVALID_CONTENT_LENGTH, printableExcerpt(Buffer.from(text)));
  // Past 15 digits the exact value no longer matters: it is above any sane limit.
  return n > 15 ? Number.MAX_SAFE_INTEGER : Number(text);
}
