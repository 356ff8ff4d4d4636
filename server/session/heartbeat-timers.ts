/**
 * Runs the two heart-beat clocks of one session once CONNECT negotiated them:
 * - outgoing: if nothing was sent for `sendMs`, send an EOL;
 * - incoming: if nothing arrived for `receiveMs × graceFactor`, the client is gone (HEARTBEAT_TIMEOUT).
 *
 * One timestamp per send/receive and one timer per direction, re-armed for exactly the time left, so
 * a busy session costs no extra wake-ups and a quiet one gets its EOL on time (not up to 2× late, as
 * a "was anything sent since the last tick?" flag would allow).
 */
import { performance } from 'node:perf_hooks';

export interface HeartbeatHooks {
  /** Send one heart-beat EOL. */
  sendHeartbeat(): void;
  /** The client was silent for `silentMs` (more than the grace period). */
  timedOut(silentMs: number): void;
}

export class HeartbeatTimers {
  private lastSentAt = performance.now();
  private lastReceivedAt = performance.now();
  private sendTimer: NodeJS.Timeout | undefined;
  private receiveTimer: NodeJS.Timeout | undefined;
  private readonly receiveLimitMs: number;

  constructor(
    private readonly sendMs: number,
    receiveMs: number,
    graceFactor: number,
    private readonly hooks: HeartbeatHooks
  ) {
    this.receiveLimitMs = receiveMs * graceFactor;
    if (sendMs > 0) this.armSend(sendMs);
    if (this.receiveLimitMs > 0) this.armReceive(this.receiveLimitMs);
  }

  /** Call on every outgoing write. */
  noteSent(): void {
    this.lastSentAt = performance.now();
  }

  /** Call on every incoming chunk, heart-beat or frame. */
  noteReceived(): void {
    this.lastReceivedAt = performance.now();
  }

  stop(): void {
    clearTimeout(this.sendTimer);
    clearTimeout(this.receiveTimer);
    this.sendTimer = this.receiveTimer = undefined;
  }

  private armSend(delayMs: number): void {
    this.sendTimer = setTimeout(() => {
      const idle = performance.now() - this.lastSentAt;
      // 1 ms slack: a timer firing a hair early must not push the EOL a whole interval late.
      if (idle >= this.sendMs - 1) {
        this.hooks.sendHeartbeat();
        this.lastSentAt = performance.now();
        this.armSend(this.sendMs);
      } else {
        this.armSend(this.sendMs - idle);
      }
    }, Math.max(1, delayMs));
    this.sendTimer.unref();
  }

  private armReceive(delayMs: number): void {
    this.receiveTimer = setTimeout(() => {
      const silent = performance.now() - this.lastReceivedAt;
      if (silent >= this.receiveLimitMs) {
        this.receiveTimer = undefined;
        this.hooks.timedOut(Math.round(silent));
      } else {
        this.armReceive(this.receiveLimitMs - silent);
      }
    }, Math.max(1, delayMs));
    this.receiveTimer.unref();
  }
}
