/**
 * Runs the embedded broker's deliveries: synchronously, in FIFO order, without recursion.
 *
 * ## Why synchronous, and why a trampoline
 * Delivery happens inside the call that caused it (publish, ack, nack, close), not on a later tick:
 * a message reaches local sinks with no timer, no extra allocation per message and no added
 * latency, which is the whole point of an in-process broker, and a caller that awaits `publish()`
 * knows its message has already been handed to every sink.
 *
 * Sinks may call back into the broker from `deliver()` (publish a reply, ack, nack, close). Calling
 * the sinks of that nested work directly would grow the stack with every hop (a sink that
 * republishes what it receives would overflow it) and would reorder deliveries: a subscriber later
 * in a fan-out would see the reply before the message it answers. So work is queued as tasks and
 * only the outermost call drains them (a trampoline); nested calls just enqueue and return.
 *
 * One drain makes at most `budgetPerTurn` deliveries, then yields to the event loop and resumes on
 * `setImmediate`. That bounds how long one publish can hold the loop, and turns a sink that NACKs
 * every delivery from inside `deliver()` (an endless requeue loop, as it would be on RabbitMQ) into
 * a busy but responsive process rather than a hung one. Yielding never reorders: every drain,
 * whoever starts it, takes tasks from the front of one FIFO.
 */
import { Deque } from './deque';

/** A unit of delivery work: a topic fan-out, or a queue handing messages to its consumers. */
export interface DeliveryTask {
  /** Makes at most `budget` deliveries (it may re-enqueue itself for the rest); returns how many it made. */
  run(budget: number): number;
}

export class DeliveryScheduler {
  private readonly tasks = new Deque<DeliveryTask>();
  private draining = false;
  private resumeHandle: NodeJS.Immediate | undefined;

  constructor(private readonly budgetPerTurn: number) {}

  enqueue(task: DeliveryTask): void {
    this.tasks.pushBack(task);
  }

  /**
   * Drains queued tasks now, unless a drain is already running further up the stack (a sink called
   * back into the broker), in which case that drain reaches the new work in order.
   */
  run(): void {
    if (this.draining) return;
    this.draining = true;
    let budget = this.budgetPerTurn;
    try {
      while (budget > 0) {
        const task = this.tasks.shift();
        if (task === undefined) break;
        // A task that delivered nothing still costs 1, so a drain always ends.
        budget -= Math.max(1, task.run(budget));
      }
    } finally {
      this.draining = false;
    }
    if (this.tasks.length > 0) this.runSoon();
  }

  /** Drains on the next turn of the event loop (after pending I/O and promise continuations). */
  runSoon(): void {
    if (this.resumeHandle !== undefined) return;
    this.resumeHandle = setImmediate(() => {
      this.resumeHandle = undefined;
      this.run();
    });
  }

  /** Drops all queued work (broker stopping). */
  clear(): void {
    this.tasks.clear();
    if (this.resumeHandle !== undefined) {
      clearImmediate(this.resumeHandle);
      this.resumeHandle = undefined;
    }
  }
}
