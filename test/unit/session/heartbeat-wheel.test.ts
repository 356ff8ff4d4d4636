import { expect } from 'chai';
import { HeartbeatWheel, type HeartbeatTarget, type WheelClock } from '../../../server/session/heartbeat-timers';
import { createTestHub, type TestHub } from './session-harness';

/** A clock the test moves by hand; it runs the wheel's interval for every period that passed. */
class FakeClock implements WheelClock {
  time = 5_000;
  readonly intervals = new Map<number, { every: number; next: number; callback: () => void }>();
  private nextHandle = 1;

  now(): number { return this.time; }

  setInterval(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.intervals.set(handle, { every: ms, next: this.time + ms, callback });
    return handle;
  }

  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as number);
  }

  /** Moves to `time`, firing each interval at every period on the way (a busy loop: `stall` skips them). */
  advanceTo(time: number, stall = false): void {
    if (stall) {
      this.time = time;
      for (const i of [...this.intervals.values()]) { i.next = time + i.every; i.callback(); }
      return;
    }
    for (;;) {
      const due = [...this.intervals.values()].filter((i) => i.next <= time).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.time = due.next;
      due.next += due.every;
      due.callback();
    }
    this.time = time;
  }
}

class Recorder implements HeartbeatTarget {
  readonly sent: number[] = [];
  timedOutAfter: number | undefined;
  constructor(private readonly clock: FakeClock) {}
  sendHeartbeat(): void { this.sent.push(this.clock.time); }
  heartbeatTimedOut(silentMs: number): void { this.timedOutAfter = silentMs; }
}

describe('HeartbeatWheel (every session\'s heart-beat clocks on one timer)', () => {
  it('sends an EOL per interval of silence, never late and at most one tick early', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ finestIntervalMs: 1_000, clock });
    expect(wheel.tickMs).to.equal(100);
    const target = new Recorder(clock);
    const t0 = clock.time;
    wheel.start(target, 1_000, 0, 2);
    clock.advanceTo(t0 + 3_050);
    expect(target.sent).to.have.length(3);
    target.sent.forEach((at, i) => expect(at - t0).to.be.within((i + 1) * 1_000 - 100, (i + 1) * 1_000));
  });

  it('sends nothing while the session writes anyway', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ clock });
    const target = new Recorder(clock);
    const hb = wheel.start(target, 1_000, 0, 2)!;
    const t0 = clock.time;
    for (let t = t0; t < t0 + 5_000; t += 300) {
      clock.advanceTo(t);
      hb.noteSent();
    }
    expect(target.sent).to.deep.equal([]);
  });

  it('stamps a write without reading the clock, and its EOL is still never late', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ finestIntervalMs: 1_000, clock });
    const target = new Recorder(clock);
    const t0 = clock.time;
    const hb = wheel.start(target, 1_000, 0, 2)!;
    clock.advanceTo(t0 + 199); // the last tick ran at t0 + 100: the coarse clock is 99 ms old
    let reads = 0;
    const now = clock.now.bind(clock);
    clock.now = () => { reads++; return now(); };
    hb.noteSent();
    expect(reads, 'noteSent reads no clock').to.equal(0);
    clock.now = now;
    clock.advanceTo(t0 + 1_400);
    // Due 1,000 ms after the real write (t0 + 199): never later; early by at most a tick plus the stamp's age.
    expect(target.sent).to.have.length(1);
    expect(target.sent[0] - t0).to.be.within(199 + 1_000 - 100 - 99, 199 + 1_000);
  });

  it('stamps a receive with the real time, so a stale coarse clock never ends a client early', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ finestIntervalMs: 1_000, clock });
    const target = new Recorder(clock);
    const t0 = clock.time;
    const hb = wheel.start(target, 0, 1_000, 2)!;
    clock.advanceTo(t0 + 199); // coarse clock 99 ms old
    hb.noteReceived();
    clock.advanceTo(t0 + 199 + 1_999);
    expect(target.timedOutAfter, 'silent for 1,999 ms of a 2,000 ms grace').to.equal(undefined);
    clock.advanceTo(t0 + 199 + 2_200);
    expect(target.timedOutAfter).to.be.within(2_000, 2_100);
  });

  it('ends a silent client no earlier than its grace period, and keeps one that sends', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ clock });
    const silent = new Recorder(clock);
    const talking = new Recorder(clock);
    const t0 = clock.time;
    wheel.start(silent, 0, 1_000, 2);
    const kept = wheel.start(talking, 0, 1_000, 2)!;
    for (let t = t0; t <= t0 + 1_990; t += 10) {
      clock.advanceTo(t);
      kept.noteReceived();
    }
    expect(silent.timedOutAfter, 'not before 2 × 1000 ms').to.equal(undefined);
    for (let t = t0 + 2_000; t <= t0 + 6_000; t += 500) {
      clock.advanceTo(t);
      kept.noteReceived();
    }
    expect(silent.timedOutAfter).to.be.within(2_000, 2_100);
    expect(talking.timedOutAfter).to.equal(undefined);
    expect(wheel.running, 'the timed-out clock left the wheel').to.equal(1);
  });

  it('catches up after the event loop stalled past a whole turn of the wheel', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ clock });
    const target = new Recorder(clock);
    wheel.start(target, 0, 1_000, 2);
    clock.advanceTo(clock.time + 500_000, true);
    expect(target.timedOutAfter).to.equal(500_000);
  });

  it('runs one timer for many clocks, and none once every clock stopped', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ clock });
    const targets = Array.from({ length: 50 }, () => new Recorder(clock));
    const clocks = targets.map((t, i) => wheel.start(t, 1_000 + i * 10, 0, 2)!);
    expect(clock.intervals.size).to.equal(1);
    clock.advanceTo(clock.time + 2_600);
    // An interval of 1000 + 10 i ms; each EOL comes at most a tick (100 ms) before its interval is up.
    targets.forEach((t, i) => {
      const interval = 1_000 + i * 10;
      expect(t.sent.length, `clock ${i}`).to.be.within(Math.floor(2_600 / interval), Math.floor(2_600 / (interval - 100)));
      t.sent.forEach((at, k) => k > 0 && expect(at - t.sent[k - 1]!, `clock ${i}`).to.be.within(interval - 100, interval));
    });
    for (const c of clocks) c.stop();
    clocks[0]!.stop(); // idempotent
    expect(clock.intervals.size).to.equal(0);
    expect(wheel.running).to.equal(0);
  });

  it('lets a callback stop its own clock and the next one in the same slot', () => {
    const clock = new FakeClock();
    const wheel = new HeartbeatWheel({ clock });
    const others: Array<ReturnType<HeartbeatWheel['start']>> = [];
    let calls = 0;
    const stopper: HeartbeatTarget = {
      sendHeartbeat: () => { calls++; for (const o of others) o?.stop(); },
      heartbeatTimedOut: () => undefined,
    };
    const late = new Recorder(clock);
    // Same interval, same start: one slot. The stopper is filed last, so it runs first.
    for (let i = 0; i < 3; i++) others.push(wheel.start(new Recorder(clock), 1_000, 0, 2));
    const lateClock = wheel.start(late, 1_000, 0, 2)!;
    wheel.start(stopper, 1_000, 0, 2);
    clock.advanceTo(clock.time + 1_050);
    expect(calls).to.equal(1);
    expect(late.sent, 'the clock after the stopped ones still ran').to.have.length(1);
    expect(wheel.running).to.equal(2);
    lateClock.stop();
  });
});

describe('session heart-beats on the hub\'s wheel', () => {
  let t: TestHub;
  afterEach(async () => t?.stop());

  it('runs one timer for every session, not one per session and direction', async () => {
    const clock = new FakeClock();
    const heartbeats = new HeartbeatWheel({ clock, finestIntervalMs: 1_000 });
    t = await createTestHub({ heartbeat: { sendMs: 1_000, receiveMs: 1_000, graceFactor: 2 } }, { heartbeats });
    const sessions = [];
    for (let i = 0; i < 20; i++) sessions.push(await t.open({ heartBeat: '1000,1000' }));
    expect(heartbeats.running).to.equal(20);
    expect(clock.intervals.size).to.equal(1);
    clock.advanceTo(clock.time + 1_050);
    for (const s of sessions) expect(s.heartbeatsReceived).to.equal(1);
    // Silent clients are closed after the 2 s grace period, all by the same timer.
    clock.advanceTo(clock.time + 1_100);
    for (const s of sessions) await s.expectError('HEARTBEAT_TIMEOUT');
    expect(heartbeats.running).to.equal(0);
    expect(clock.intervals.size).to.equal(0);
  });

  it('lets go of the handshake headers once CONNECTED is sent', async () => {
    t = await createTestHub();
    const c = await t.open({ connect: false });
    c.handshake.headers = { authorization: 'Bearer x', cookie: 'a=b' };
    c.sendFrame('CONNECT', { 'accept-version': '1.2', login: 'alice' });
    await c.next('CONNECTED');
    expect(c.session.handshake.headers).to.deep.equal({});
  });
});
