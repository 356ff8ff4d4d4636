/**
 * Resume across reconnects, one subscription's half (the relay's contract: docs/protocol.md
 * "Resume"). Every MESSAGE on a user destination carries a `resume-token`; the subscription keeps
 * the last one and, when it is sent again after a reconnect, asks with `resume-from` for what was
 * published after it. The relay replays that before confirming the SUBSCRIBE (RECEIPT), or opens
 * with an empty `resume-gap:true` MESSAGE when its history cannot cover the whole stretch.
 */

/** MESSAGE header: the message's position in its destination's history. */
export const RESUME_TOKEN_HEADER = 'resume-token';
/** SUBSCRIBE header: the last token the client saw. */
export const RESUME_FROM_HEADER = 'resume-from';
/** MESSAGE header (`true`) of the empty marker that opens a resumed subscription with a gap. */
export const RESUME_GAP_HEADER = 'resume-gap';

/** What {@link ResumePoint.confirmed} reports about a resubscription that resumed. */
export interface ResumeOutcome {
  resumeFrom: string;
  recovered: number;
  gap: boolean;
}

/** Where one subscription stands in its destination's history, across reconnects. */
/** How many recent tokens {@link ResumePoint} remembers to drop repeats. */
const RECENT_TOKENS = 256;

export class ResumePoint {
  /** The last token seen (or given to start from); undefined: nothing to resume from. */
  token: string | undefined;
  /**
   * Tokens of the last messages taken, newest last: a replay can repeat one that arrived live out of
   * record order (two publishers on two instances), and it must not reach the application twice.
   */
  private readonly recent: string[] = [];
  /** The resumption the SUBSCRIBE in flight asked for, until its RECEIPT; undefined when it asked none. */
  private pending: ResumeOutcome | undefined;

  constructor(startFrom?: string) {
    this.token = startFrom === '' ? undefined : startFrom;
  }

  /** Headers for the SUBSCRIBE about to be sent (on connect or reconnect), and the start of its count. */
  subscribing(): Record<string, string> {
    if (this.token === undefined) {
      this.pending = undefined;
      return {};
    }
    this.pending = { resumeFrom: this.token, recovered: 0, gap: false };
    return { [RESUME_FROM_HEADER]: this.token };
  }

  /** The token the SUBSCRIBE in flight resumes from, if it resumes. */
  get resumingFrom(): string | undefined {
    return this.pending?.resumeFrom;
  }

  /** True for a message whose token was among the last ones taken: a replay repeating it. */
  repeats(headers: Readonly<Record<string, string>>): boolean {
    const token = headers[RESUME_TOKEN_HEADER];
    return token !== undefined && token !== '' && headers[RESUME_GAP_HEADER] !== 'true' && this.recent.includes(token);
  }

  /**
   * Takes in a MESSAGE's headers: its token becomes the last one. Returns true for the gap marker,
   * which is not a message for the application.
   */
  received(headers: Readonly<Record<string, string>>): boolean {
    const token = headers[RESUME_TOKEN_HEADER];
    if (token !== undefined && token !== '') this.token = token;
    const gap = headers[RESUME_GAP_HEADER] === 'true';
    if (!gap && token !== undefined && token !== '') {
      this.recent.push(token);
      if (this.recent.length > RECENT_TOKENS) this.recent.shift();
    }
    if (this.pending !== undefined) {
      if (gap) this.pending.gap = true;
      else this.pending.recovered += 1;
    }
    return gap;
  }

  /**
   * The SUBSCRIBE's RECEIPT arrived: the replay (if any) is complete. Returns how the resumption
   * went, or undefined when the SUBSCRIBE resumed nothing.
   */
  confirmed(receiptHeaders: Readonly<Record<string, string>> = {}): ResumeOutcome | undefined {
    // The RECEIPT of a user-destination SUBSCRIBE names the history's position: a subscription
    // that has seen nothing yet resumes from there, so it misses nothing if it drops before its
    // first message. A message's token, when there is one, is newer and stays.
    const position = receiptHeaders[RESUME_TOKEN_HEADER];
    if (this.token === undefined && position !== undefined && position !== '') this.token = position;
    const outcome = this.pending;
    this.pending = undefined;
    return outcome;
  }
}
