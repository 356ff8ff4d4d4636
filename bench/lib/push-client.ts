/**
 * `POST /push/:user` and `POST /publish` for load scripts, over keep-alive connections (one agent per client, at most
 * `maxSockets` requests in flight to one relay). Answers are returned, never thrown, so a script can
 * count them; only a request that got no answer at all (socket error, timeout) rejects.
 */
import * as http from 'node:http';

export interface PushAnswer {
  status: number;
  /** The answer's body, cut to 300 characters (for error reports). */
  text: string;
}

export class PushClient {
  private readonly agent: http.Agent;

  constructor(private readonly httpUrl: string, maxSockets: number, private readonly timeoutMs = 10_000) {
    // FIFO keeps every socket of the pool in use during a run: with LIFO (Node's default) the spare
    // ones sit idle until the server's keep-alive timeout closes them, and a request that picks one
    // just then fails with ECONNRESET, a loss of the load client, not of the server.
    this.agent = new http.Agent({ keepAlive: true, maxSockets, scheduling: 'fifo' });
  }

  /** POSTs `{destination, payload}` to `/push/<user>`; resolves with the answer. */
  push(user: string, destination: string, payload: string): Promise<PushAnswer> {
    return this.post(`/push/${encodeURIComponent(user)}`, { destination, payload });
  }

  /** POSTs `{destination, payload}` to `/publish` (e.g. a topic); resolves with the answer. */
  publish(destination: string, payload: string): Promise<PushAnswer> {
    return this.post('/publish', { destination, payload });
  }

  private post(route: string, message: { destination: string; payload: string }): Promise<PushAnswer> {
    const body = JSON.stringify(message);
    return new Promise<PushAnswer>((resolve, reject) => {
      const req = http.request(`${this.httpUrl}${route}`, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8', 0, 300) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`POST ${route}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
