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
export class ResumePoint {
  /** The last token seen (or given to start from); undefined: nothing to resume from. */
  token: string | undefined;
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

  /**
   * Takes in a MESSAGE's headers: its token becomes the last one. Returns true for the gap marker,
   * which is not a message for the application.
   */
  received(headers: Readonly<Record<string, string>>): boolean {
    const token = headers[RESUME_TOKEN_HEADER];
    if (token !== undefined && token !== '') this.token = token;
    const gap = headers[RESUME_GAP_HEADER] === 'true';
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
  confirmed(): ResumeOutcome | undefined {
    const outcome = this.pending;
    this.pending = undefined;
    return outcome;
  }
}
