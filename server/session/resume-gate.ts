/**
 * The seam of a resumed subscription (SUBSCRIBE with `resume-from`; docs/protocol.md "Resume"):
 * history first, then live, nothing lost or twice where the two meet.
 *
 * The live subscription is in effect before the history is read (broker/history.ts states why that
 * order loses nothing). While the replay is under way, live deliveries are held; once it is back
 * the subscriber gets, in this order: the gap marker (when the history could not vouch for
 * everything), the replayed messages, the held live ones the replay did not already contain, then
 * live traffic as it comes. A live message can also arrive after the replay although the replay
 * returned it (recorded before the replay, routed after), so the replayed tokens are remembered for
 * the subscription's life: at most `maxMessages` short strings.
 */
import type { Delivery } from '../broker/broker';
import { RESUME_TOKEN_HEADER, type MessageHistory, type Replay } from '../broker/history';

export interface ResumeOutput {
  /** Hands a delivery to the subscriber (the session's normal MESSAGE path). */
  deliver(delivery: Delivery): void;
  /** A held or live delivery that the replay already gave: settle it without showing it. */
  drop(delivery: Delivery): void;
  /** The history has a gap: the empty `resume-gap:true` MESSAGE, carrying `position` when known. */
  gap(position: string | undefined): void;
}

const UNAVAILABLE: Replay = Object.freeze({ gap: true, messages: [] });

export class ResumeGate {
  /** Live deliveries waiting for the replay; undefined once it is done. */
  private held: Delivery[] | undefined = [];
  private readonly replayed = new Set<string>();

  constructor(private readonly output: ResumeOutput) {}

  /** A live delivery for the subscription: held, dropped as a duplicate, or passed on. */
  live(delivery: Delivery): void {
    if (this.held !== undefined) {
      this.held.push(delivery);
      return;
    }
    if (this.isReplayed(delivery)) this.output.drop(delivery);
    else this.output.deliver(delivery);
  }

  /**
   * Reads the history after `token` (`history` undefined: none, so a gap) and delivers it, then
   * what was held. Call once the live subscription is in effect.
   */
  async resume(history: MessageHistory | undefined, destination: string, token: string): Promise<string | undefined> {
    // replay() never rejects by contract; an engine bug must still end as a gap, not a lost SUBSCRIBE.
    const replay: Replay = history === undefined ? UNAVAILABLE : await history.replay(destination, token).catch(() => UNAVAILABLE);
    this.flush(replay);
    return replay.position;
  }

  /** Stops holding without a replay (the subscription failed or ended): nothing more to deliver. */
  abandon(): void {
    this.held = undefined;
  }

  private flush(replay: Replay): void {
    const held = this.held;
    if (held === undefined) return; // abandoned meanwhile
    this.held = undefined;
    if (replay.gap) this.output.gap(replay.messages.length > 0 ? undefined : replay.position);
    for (const message of replay.messages) {
      const token = message.headers[RESUME_TOKEN_HEADER];
      if (token !== undefined) this.replayed.add(token);
      this.output.deliver({ message });
    }
    for (const delivery of held) this.live(delivery);
  }

  private isReplayed(delivery: Delivery): boolean {
    if (this.replayed.size === 0) return false;
    const token = delivery.message.headers[RESUME_TOKEN_HEADER];
    return token !== undefined && this.replayed.has(token);
  }
}
