/**
 * A stock @stomp/stompjs client in Node that resumes by hand, as docs/protocol.md "Resume" shows a
 * stomp.js application doing it without this project's library: it remembers the last
 * `resume-token` of its user-destination subscription and puts it into the SUBSCRIBE as
 * `resume-from` whenever stompjs (re)connects (`onConnect`). A `resume-gap:true` MESSAGE is counted
 * as a gap, never as data.
 */
import { Client, type IMessage, type StompHeaders } from '@stomp/stompjs';
import WebSocket from 'ws';
import { STOMP_SUBPROTOCOLS, within } from '../harness/stomp-test-kit';

export interface StockResumeClient {
  readonly client: Client;
  /** Every data MESSAGE, in arrival order. */
  readonly messages: IMessage[];
  /** `resume-gap:true` MESSAGEs, in arrival order. */
  readonly gaps: IMessage[];
  /** CONNECTED `server` header of each connection, in order. */
  readonly servers: string[];
  /** The last `resume-token` seen (data or gap). */
  readonly lastToken: string | undefined;
  /** Resolves once the subscription of connection number `n` (1 = the first) was confirmed (RECEIPT). */
  subscribed(n: number): Promise<void>;
  close(): Promise<void>;
}

export interface StockResumeOptions {
  /** `ws://…/ws` (through nginx, or an instance's own port). */
  url: string;
  login: string;
  destination: string;
  /** `resume-from` of the very first SUBSCRIBE (default none: a new subscription resumes nothing). */
  resumeFrom?: string;
}

/** Connects, subscribes, and keeps reconnecting (every 100 ms) and resuming until close(). */
export function startStockResumeClient(options: StockResumeOptions): StockResumeClient {
  const messages: IMessage[] = [];
  const gaps: IMessage[] = [];
  const servers: string[] = [];
  let lastToken = options.resumeFrom;
  let confirmed = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const client = new Client({
    webSocketFactory: () => new WebSocket(options.url, STOMP_SUBPROTOCOLS) as unknown as globalThis.WebSocket,
    connectHeaders: { login: options.login },
    reconnectDelay: 100,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => undefined,
  });
  client.onConnect = (frame) => {
    servers.push(frame.headers.server ?? '');
    const connection = servers.length;
    const receipt = `sub-${connection}`;
    // The whole of resume, by hand: the last token seen goes into the SUBSCRIBE after a reconnect.
    const headers: StompHeaders = { id: 'notifications', receipt };
    if (lastToken !== undefined) headers['resume-from'] = lastToken;
    client.watchForReceipt(receipt, () => {
      confirmed = connection;
      for (const w of waiters.splice(0)) if (w.n <= confirmed) w.resolve(); else waiters.push(w);
    });
    client.subscribe(options.destination, (message) => {
      const token = message.headers['resume-token'];
      if (token !== undefined) lastToken = token;
      if (message.headers['resume-gap'] === 'true') gaps.push(message);
      else messages.push(message);
    }, headers);
  };
  client.activate();
  return {
    client,
    messages,
    gaps,
    servers,
    get lastToken() {
      return lastToken;
    },
    subscribed: (n) => within(
      confirmed >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
      `the stock client's SUBSCRIBE on connection #${n} confirmed`,
      20_000,
    ),
    close: () => client.deactivate(),
  };
}
