import { headers, type StompFrame } from '../../codec/frame';

const EMPTY = Buffer.alloc(0);

/** A frame with string headers and an optional body. */
export function makeFrame(command: string, init: Record<string, string | undefined> = {}, body: Buffer = EMPTY): StompFrame {
  return { command, headers: headers(init), body };
}
