/**
 * Helpers for tests with several relay instances on one real RabbitMQ node: start instances,
 * connect stomp.js clients, collect messages with bounded waits.
 */
import { Client, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import WebSocket from 'ws';
import { createRelay, type Relay } from '../../../server/relay';
import type { CreateRelayOptions } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';

export interface Instance {
  relay: Relay;
  port: number;
  http: string;
  ws: string;
}

export async function startInstance(brokerUrl: string, instanceId: string, options: CreateRelayOptions = {}): Promise<Instance> {
  const relay = createRelay({ brokerUrl, instanceId, logger: silentLogger(), presenceIntervalMs: 200, serveDemo: false, ...options });
  const { port } = await relay.listen(0, '127.0.0.1');
  return { relay, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Messages of one subscription, with waits. */
export class Inbox {
  readonly messages: IMessage[] = [];
  private waiters: Array<() => void> = [];

  push(message: IMessage): void {
    this.messages.push(message);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `count` messages arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<IMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.messages.slice(0, count);
  }

  bodies(): string[] {
    return this.messages.map((m) => m.body);
  }
}

export interface TestClient {
  client: Client;
  connected: IFrame;
  /** Errors (ERROR frames) and unexpected closes seen since connecting. */
  errors: IFrame[];
  closes: number;
  subscribe(destination: string, headers?: StompHeaders): Promise<Inbox>;
  publish(destination: string, body: string, headers?: StompHeaders): Promise<void>;
  disconnect(): Promise<void>;
}

/** Connects a stomp.js client (no automatic reconnect) as `login` to a relay's `/ws`. */
export async function connectClient(wsUrl: string, login: string, connectHeaders: StompHeaders = {}): Promise<TestClient> {
  const errors: IFrame[] = [];
  let closes = 0;
  let receiptSeq = 0;
  const client = new Client({
    webSocketFactory: () => new WebSocket(wsUrl, ['v12.stomp']),
    connectHeaders: { login, ...connectHeaders },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
  });
  const connected = await new Promise<IFrame>((resolve, reject) => {
    client.onConnect = resolve;
    client.onStompError = (f) => { errors.push(f); reject(new Error(f.headers.message)); };
    client.onWebSocketClose = () => { closes += 1; reject(new Error('closed before CONNECTED')); };
    client.activate();
  });
  client.onStompError = (f) => { errors.push(f); };
  client.onWebSocketClose = () => { closes += 1; };
  const withReceipt = (send: (receipt: string) => void): Promise<void> => new Promise((resolve) => {
    const receipt = `r-${++receiptSeq}`;
    client.watchForReceipt(receipt, () => resolve());
    send(receipt);
  });
  const self: TestClient = {
    client,
    connected,
    errors,
    get closes() { return closes; },
    async subscribe(destination, headers = {}) {
      const inbox = new Inbox();
      await withReceipt((receipt) => client.subscribe(destination, (m) => inbox.push(m), { ...headers, receipt }));
      return inbox;
    },
    publish(destination, body, headers = {}) {
      return withReceipt((receipt) => client.publish({ destination, body, headers: { ...headers, receipt } }));
    },
    async disconnect() {
      await client.deactivate();
    },
  };
  return self;
}

/** POST /push/:user with a JSON body; returns status and parsed JSON. */
export async function push(httpBase: string, user: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${httpBase}/push/${encodeURIComponent(user)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
