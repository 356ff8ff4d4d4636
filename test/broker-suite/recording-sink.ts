/**
 * A {@link DeliverySink} that records what it gets, for broker tests.
 */
import type { Delivery, DeliverySink } from '../../server/broker/broker';
import type { RelayError } from '../../server/errors';
import { WAIT_MS } from './wait';

export class RecordingSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  readonly cancellations: RelayError[] = [];
  /**
   * Runs inside deliver(), after the delivery is recorded: lets a test call back into the broker
   * re-entrantly (ack, nack, close, publish) the way a session might.
   */
  onDeliver: ((delivery: Delivery) => void) | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly label = 'sink') {}

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
    this.onDeliver?.(delivery);
    this.wake();
  }

  cancelled(reason: RelayError): void {
    this.cancellations.push(reason);
    this.wake();
  }

  /** Bodies received so far, as UTF-8 text. */
  bodies(): string[] {
    return this.deliveries.map((d) => d.message.body.toString('utf8'));
  }

  /**
   * Resolves with the deliveries once at least `count` have arrived; rejects after `timeoutMs`,
   * naming what did arrive.
   */
  waitFor(count: number, timeoutMs = WAIT_MS): Promise<Delivery[]> {
    if (this.deliveries.length >= count) return Promise.resolve(this.deliveries);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.deliveries.length < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(this.deliveries);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const got = this.bodies().slice(0, 20).join(', ');
        reject(new Error(`${this.label}: expected ${count} deliveries within ${timeoutMs} ms, got ${this.deliveries.length} [${got}]`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
