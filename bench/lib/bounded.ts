/** Bounded waiting for load scripts: every wait ends, by its condition or by its deadline. */

export interface WaitResult {
  /** True when the condition held before the deadline. */
  met: boolean;
  elapsedMs: number;
}

/**
 * Polls `condition` every `intervalMs` until it holds or `timeoutMs` passed. Never rejects: a load
 * run that times out still reports what it measured (as lost messages).
 */
export async function waitFor(condition: () => boolean, timeoutMs: number, intervalMs = 10): Promise<WaitResult> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start >= timeoutMs) return { met: false, elapsedMs: Date.now() - start };
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return { met: true, elapsedMs: Date.now() - start };
}

/**
 * {@link waitFor} for a condition that has to ask someone (e.g. load processes over IPC): one
 * evaluation at a time, `intervalMs` between them. A condition that rejects ends the wait (rejects).
 */
export async function waitForAsync(condition: () => Promise<boolean>, timeoutMs: number, intervalMs = 10): Promise<WaitResult> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start >= timeoutMs) return { met: false, elapsedMs: Date.now() - start };
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return { met: true, elapsedMs: Date.now() - start };
}

/**
 * Calls `sendOne(i)` for i = 0..count-1 at `rate` per second (Infinity: as fast as `canSend`
 * allows), pacing by the clock rather than by timers (a late timer is caught up, so the average rate
 * holds). Stops early when `deadline` (Date.now() ms) passes. Resolves with how many were sent.
 */
export async function paced(options: {
  count: number;
  rate: number;
  sendOne: (i: number) => void;
  /** Publisher flow control: false pauses sending until it turns true (e.g. socket buffer full). */
  canSend?: () => boolean;
  deadline: number;
}): Promise<number> {
  const { count, rate, sendOne, canSend = () => true, deadline } = options;
  const start = performance.now();
  let sent = 0;
  while (sent < count && Date.now() < deadline) {
    const due = rate === Infinity ? count : Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    // Batch at most 256 before yielding so receivers in this process get the event loop too.
    let batch = 0;
    while (sent < due && batch < 256 && canSend()) {
      sendOne(sent++);
      batch++;
    }
    if (sent >= count) break;
    if (rate === Infinity || sent < due) await new Promise((resolve) => setImmediate(resolve));
    else await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(20, (sent / rate) * 1000 - (performance.now() - start)))));
  }
  return sent;
}

/** Runs async functions with at most `limit` running at once (e.g. HTTP requests in flight). */
export async function runConcurrently(total: number, limit: number, task: (i: number) => Promise<void>, deadline: number): Promise<number> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < total && Date.now() < deadline) {
      await task(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, total) }, worker));
  return done;
}
