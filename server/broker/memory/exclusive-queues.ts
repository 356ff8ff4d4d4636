/**
 * Exclusive queues on the embedded broker, with the rules the RabbitMQ engine gives them
 * (rabbitmq/exclusive-connections.ts): an exclusive queue belongs to the session that declared it;
 * nobody else may consume it (DESTINATION_NOT_ALLOWED), anyone may send to it, and it is deleted,
 * with what it holds, once that session's last exclusive subscription ends.
 */
import { Errors, relayError } from '../../errors';

interface Owner {
  readonly queues: Set<string>;
  /** Exclusive subscriptions of the owner still open. */
  open: number;
}

export class ExclusiveQueues {
  /** Queue name → owner key. */
  private readonly ownerOf = new Map<string, string>();
  private readonly owners = new Map<string, Owner>();

  /**
   * Admits a subscription to queue `name`. `owner` is set for an exclusive one (its session), which
   * then holds the queue; `exists` says whether the queue holds messages or consumers already (an
   * existing queue cannot become exclusive, as on RabbitMQ). Throws DESTINATION_NOT_ALLOWED when
   * the queue is another's (or, for a shared subscription, anyone's) exclusive queue.
   */
  admit(destination: string, name: string, owner: string | undefined, exists: boolean): void {
    const holder = this.ownerOf.get(name);
    if (holder !== undefined ? holder !== owner : owner !== undefined && exists) {
      throw relayError(
        Errors.DESTINATION_NOT_ALLOWED,
        `${destination} (resource_locked: the queue is exclusive to another session, or exists already and cannot become exclusive)`,
      );
    }
    if (owner === undefined) return;
    this.ownerOf.set(name, owner);
    let entry = this.owners.get(owner);
    if (entry === undefined) {
      entry = { queues: new Set(), open: 0 };
      this.owners.set(owner, entry);
    }
    entry.queues.add(name);
    entry.open++;
  }

  /**
   * One exclusive subscription of `owner` ended. Returns the queues to delete: all of the owner's,
   * once its last exclusive subscription is gone; else none.
   */
  closed(owner: string): string[] {
    const entry = this.owners.get(owner);
    if (entry === undefined || --entry.open > 0) return [];
    this.owners.delete(owner);
    for (const name of entry.queues) this.ownerOf.delete(name);
    return [...entry.queues];
  }

  clear(): void {
    this.ownerOf.clear();
    this.owners.clear();
  }
}
