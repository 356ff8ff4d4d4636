/**
 * Session control across the cluster: `endUserSessions('alice', reason)` on any instance ends
 * every session of alice on every instance (an admin's ban, a password change), each with ERROR
 * SESSION_REVOKED naming the reason.
 *
 * The request travels as a control message on its own internal `amq.direct` key
 * (CONTROL_DESTINATION), like presence snapshots: every instance is subscribed (with RabbitMQ, a
 * binding on its route queue), and ends its own sessions of that user when the message arrives.
 * The instance that was asked ends its local sessions itself, once the broker confirmed the message,
 * and ignores its own copy.
 *
 * At most once per instance, like presence: an instance that is disconnected from the broker when
 * the message passes does not see it. Ending sessions does not stop the user from connecting again;
 * revoke their credentials too (a JWT stays valid until its `exp`).
 */
import type { Broker } from '../broker/broker';
import type { Logger } from '../observability/logger';
import { InternalChannel } from './internal-channel';
import { CONTROL_DESTINATION } from './user-destinations';

interface EndUserSessions {
  v: 1;
  type: 'end-user-sessions';
  /** Instance that was asked; it has already acted. */
  from: string;
  user: string;
  reason: string;
}

export interface SessionControlOptions {
  broker: Broker;
  instanceId: string;
  logger: Logger;
  /** Ends this instance's sessions of `user` with ERROR SESSION_REVOKED (`reason`); returns how many. */
  endLocalSessions(user: string, reason: string): number;
}

export class SessionControl {
  private readonly channel: InternalChannel;

  constructor(private readonly options: SessionControlOptions) {
    this.channel = new InternalChannel({
      broker: options.broker,
      destination: CONTROL_DESTINATION,
      name: 'session control',
      logger: options.logger,
      onMessage: (m) => this.onControl(m),
    });
  }

  /** Subscribes to the control key; with the broker down, once it is ready. */
  start(): Promise<void> {
    return this.channel.start();
  }

  stop(): Promise<void> {
    return this.channel.stop();
  }

  /**
   * Ends every session of `user` on every instance. Resolves with the number ended here, once the
   * broker confirmed the request to the others; rejects (BROKER_UNAVAILABLE...) with nothing ended.
   */
  async endUserSessions(user: string, reason: string): Promise<number> {
    const message: EndUserSessions = { v: 1, type: 'end-user-sessions', from: this.options.instanceId, user, reason };
    await this.channel.publish(message, { confirm: true });
    const ended = this.options.endLocalSessions(user, reason);
    this.options.logger.info({ user, reason, ended }, 'ended the sessions of a user on request');
    return ended;
  }

  private onControl(message: Record<string, unknown>): void {
    const m = message as Partial<EndUserSessions>;
    if (m.v !== 1 || m.type !== 'end-user-sessions' || typeof m.user !== 'string' || typeof m.reason !== 'string') return;
    if (m.from === this.options.instanceId) return;
    const ended = this.options.endLocalSessions(m.user, m.reason);
    if (ended > 0)
      this.options.logger.info(
        { user: m.user, reason: m.reason, ended, requestedOn: m.from },
        'ended the sessions of a user on request of another instance',
      );
  }
}
