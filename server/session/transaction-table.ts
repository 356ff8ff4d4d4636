/**
 * Open transactions of one session (STOMP 1.2 §BEGIN, §COMMIT, §ABORT).
 *
 * The relay buffers transactions itself instead of forwarding BEGIN/COMMIT to the broker: broker
 * connections are pooled and shared by many sessions, and a broker transaction lives on one
 * connection, so a client's BEGIN cannot own one. SEND/ACK/NACK frames with a `transaction` header are
 * validated and routed when they arrive, held here as operations, and applied in order on COMMIT;
 * ABORT or a disconnect drops them. A held frame's RECEIPT is held with it: the frame takes effect at
 * COMMIT, so that is when its receipt is due (RabbitMQ answers a transactional SEND's receipt at
 * COMMIT too), and an aborted frame never gets one. Bounded per session: maxTransactionsPerSession open at once,
 * maxTransactionFrames operations each.
 */
import { Errors, relayError } from '../errors';

/** One buffered SEND/ACK/NACK, ready to apply. `confirm`: wait for the broker to confirm a publish. */
export type TransactionOp = (confirm: boolean) => Promise<void> | void;

/** A held frame: what to apply on COMMIT, and the `receipt` it asked for (answered once applied). */
export interface HeldFrame {
  readonly op: TransactionOp;
  readonly receipt: string | undefined;
}

export interface TransactionLimits {
  maxTransactionsPerSession: number;
  maxTransactionFrames: number;
}

export class TransactionTable {
  /** Open transactions; made by the first BEGIN (most sessions never send one). */
  private open: Map<string, HeldFrame[]> | undefined;

  constructor(private readonly limits: TransactionLimits) {}

  get size(): number {
    return this.open?.size ?? 0;
  }

  begin(id: string): void {
    const open = (this.open ??= new Map());
    if (open.has(id)) throw relayError(Errors.DUPLICATE_TRANSACTION, id);
    if (open.size >= this.limits.maxTransactionsPerSession) {
      throw relayError(Errors.TOO_MANY_TRANSACTIONS, this.limits.maxTransactionsPerSession);
    }
    open.set(id, []);
  }

  add(id: string, op: TransactionOp, receipt: string | undefined): void {
    const ops = this.open?.get(id);
    if (ops === undefined) throw relayError(Errors.UNKNOWN_TRANSACTION, id);
    if (ops.length >= this.limits.maxTransactionFrames) {
      throw relayError(Errors.TRANSACTION_TOO_LARGE, id, this.limits.maxTransactionFrames);
    }
    ops.push({ op, receipt });
  }

  /** Ends the transaction and returns its frames in arrival order. */
  commit(id: string): HeldFrame[] {
    const ops = this.open?.get(id);
    if (ops === undefined) throw relayError(Errors.UNKNOWN_TRANSACTION, id);
    this.open!.delete(id);
    return ops;
  }

  abort(id: string): void {
    if (this.open?.delete(id) !== true) throw relayError(Errors.UNKNOWN_TRANSACTION, id);
  }

  clear(): void {
    this.open = undefined;
  }
}
