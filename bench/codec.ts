/**
 * Codec throughput: parse and encode, 100-byte and 16 KiB bodies, next to @stomp/stompjs's own parser
 * and serializer where the installed package exports them.
 *
 *     npx tsx bench/codec.ts
 *
 * Each case runs for a fixed time slice (after a warm-up), so the whole run takes a few seconds.
 * Parse cases push one frame per chunk, as a WebSocket message delivers it. Numbers from one run on a
 * shared machine are only comparable with each other (ratios), not across machines.
 */
import { performance } from 'node:perf_hooks';
import { headers, type StompFrame } from '../server/codec/frame';
import { StompParser } from '../server/codec/parser';
import { createMessageTemplate, encodeFrame, renderMessage } from '../server/codec/serializer';

const WARMUP_MS = 150;
const MEASURE_MS = 400;
const FRAMES_PER_ROUND = 256;

interface Result {
  operation: string;
  body: string;
  implementation: string;
  framesPerSecond: number;
  megabytesPerSecond: number;
}

/** Runs `round` (which processes FRAMES_PER_ROUND frames of `bytesPerFrame`) for a fixed time. */
function measure(round: () => void, bytesPerFrame: number): { framesPerSecond: number; megabytesPerSecond: number } {
  const warmUntil = performance.now() + WARMUP_MS;
  while (performance.now() < warmUntil) round();
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    round();
    rounds++;
    elapsed = performance.now() - start;
  } while (elapsed < MEASURE_MS);
  const frames = rounds * FRAMES_PER_ROUND;
  const seconds = elapsed / 1000;
  return { framesPerSecond: frames / seconds, megabytesPerSecond: (frames * bytesPerFrame) / seconds / 1e6 };
}

/** The stompjs exports we compare against, or why they could not be loaded. */
interface StompJs {
  Parser: new (onFrame: (frame: unknown) => void, onPing: () => void) => { parseChunk(chunk: Uint8Array): void };
  FrameImpl: { marshall(params: { command: string; headers: Record<string, string>; binaryBody: Uint8Array; escapeHeaderValues: boolean }): unknown };
}

function loadStompJs(): StompJs | string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('@stomp/stompjs') as Partial<StompJs>;
    if (typeof mod.Parser !== 'function' || typeof mod.FrameImpl?.marshall !== 'function') {
      return '@stomp/stompjs does not export Parser/FrameImpl.marshall';
    }
    return mod as StompJs;
  } catch (err) {
    return `@stomp/stompjs could not be loaded: ${(err as Error).message}`;
  }
}

function sendFrame(bodyBytes: number): StompFrame {
  const body = Buffer.alloc(bodyBytes, 'x');
  return {
    command: 'SEND',
    headers: headers({ destination: '/topic/prices.eur', 'content-type': 'application/json', receipt: 'r-1234' }),
    body,
  };
}

function run(): void {
  const stompjs = loadStompJs();
  const results: Result[] = [];
  const sizes: Array<[string, number]> = [['100 B', 100], ['16 KiB', 16 * 1024]];

  for (const [label, size] of sizes) {
    const frame = sendFrame(size);
    const encoded = encodeFrame(frame, '1.2');
    // Distinct chunk buffers, as separate WebSocket messages would be.
    const chunks = Array.from({ length: FRAMES_PER_ROUND }, () => Buffer.from(encoded));
    const add = (operation: string, implementation: string, round: () => void, bytes = encoded.length) =>
      results.push({ operation, body: label, implementation, ...measure(round, bytes) });

    let parsed = 0;
    const parser = new StompParser({ onFrame: () => void parsed++ });
    add('parse', 'stomp-relay StompParser', () => {
      for (const chunk of chunks) parser.push(chunk);
    });
    if (typeof stompjs !== 'string') {
      const theirs = new stompjs.Parser(() => void parsed++, () => undefined);
      add('parse', '@stomp/stompjs Parser', () => {
        for (const chunk of chunks) theirs.parseChunk(chunk);
      });
    }

    const message = {
      command: 'MESSAGE',
      headers: headers({ destination: '/topic/prices.eur', 'content-type': 'application/json', subscription: 'sub-0', 'message-id': 'T_sub-0@@session-1@@42' }),
      body: frame.body,
    };
    add('encode MESSAGE', 'stomp-relay encodeFrame', () => {
      for (let i = 0; i < FRAMES_PER_ROUND; i++) encodeFrame(message, '1.2');
    });
    const template = createMessageTemplate(headers({ destination: '/topic/prices.eur', 'content-type': 'application/json' }), frame.body, '1.2');
    const perReceiver = Array.from({ length: FRAMES_PER_ROUND }, (_, i) => headers({ subscription: `sub-${i}`, 'message-id': `T_sub-${i}@@session-1@@42` }));
    add('encode MESSAGE', 'stomp-relay renderMessage (fan-out, per receiver)', () => {
      for (const h of perReceiver) renderMessage(template, h);
    });
    if (typeof stompjs !== 'string') {
      const plainHeaders = { ...message.headers };
      const binaryBody = new Uint8Array(frame.body);
      add('encode MESSAGE', '@stomp/stompjs FrameImpl.marshall', () => {
        for (let i = 0; i < FRAMES_PER_ROUND; i++) {
          stompjs.FrameImpl.marshall({ command: 'MESSAGE', headers: plainHeaders, binaryBody, escapeHeaderValues: true });
        }
      });
    }
    if (parsed === 0) throw new Error('parser delivered no frames');
  }

  const out: string[] = [];
  out.push(`Node ${process.version}, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms per case, ${FRAMES_PER_ROUND} frames per round; parse pushes one frame per chunk.`);
  if (typeof stompjs === 'string') out.push(`Comparison skipped: ${stompjs}.`);
  out.push('');
  out.push('| operation | body | implementation | frames/s | MB/s | vs @stomp/stompjs |');
  out.push('|---|---|---|---:|---:|---:|');
  for (const r of results) {
    const baseline = results.find((x) => x.operation === r.operation && x.body === r.body && x.implementation.startsWith('@stomp/stompjs'));
    const ratio = baseline ? (r.framesPerSecond / baseline.framesPerSecond).toFixed(1) + '×' : 'n/a';
    out.push(`| ${r.operation} | ${r.body} | ${r.implementation} | ${Math.round(r.framesPerSecond).toLocaleString('en-US')} | ${r.megabytesPerSecond.toFixed(1)} | ${ratio} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

run();
