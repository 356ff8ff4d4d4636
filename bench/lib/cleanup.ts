/**
 * Teardown for load scripts: everything a script starts (RabbitMQ node, relay processes, sockets)
 * registers here, and is stopped in reverse order on the normal path, on error, on SIGINT/SIGTERM,
 * and (synchronously, best effort) at process exit.
 */

interface Entry {
  name: string;
  stop: () => Promise<void>;
  /** Synchronous last resort at process exit (e.g. SIGKILL a child). */
  kill?: () => void;
}

export class Cleanup {
  private readonly entries: Entry[] = [];
  private running: Promise<void> | undefined;
  private readonly onExit = (): void => {
    for (const e of this.entries.splice(0).reverse()) {
      try { e.kill?.(); } catch { /* already gone */ }
    }
  };
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };

  constructor(private readonly stepTimeoutMs = 20_000) {
    process.once('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** Registers something to stop; returns a function that stops it now and forgets it. */
  add(name: string, stop: () => Promise<void>, kill?: () => void): () => Promise<void> {
    const entry: Entry = { name, stop, kill };
    this.entries.push(entry);
    return async () => {
      const i = this.entries.indexOf(entry);
      if (i < 0) return;
      this.entries.splice(i, 1);
      await this.stopOne(entry);
    };
  }

  /** Stops everything still registered, newest first; each step bounded. Idempotent, never rejects. */
  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.entries.length > 0) await this.stopOne(this.entries.pop()!);
      process.removeListener('exit', this.onExit);
    })();
    return this.running;
  }

  private async stopOne(entry: Entry): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        entry.stop(),
        new Promise<void>((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), this.stepTimeoutMs); }),
      ]);
    } catch (err) {
      process.stderr.write(`cleanup of ${entry.name} failed: ${(err as Error).message}\n`);
      try { entry.kill?.(); } catch { /* already gone */ }
    } finally {
      clearTimeout(timer);
    }
  }
}
