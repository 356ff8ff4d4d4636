/**
 * AUTH_MODE=broker: the CONNECT `login` / `passcode` are a RabbitMQ user's, as with RabbitMQ's own
 * Web-STOMP, and the session is named by the login. For people moving from Web-STOMP: their
 * clients keep sending what they sent.
 *
 * The check itself is the broker engine's (server/broker/rabbitmq/credential-check.ts: a short
 * STOMP connection with those credentials, cached verdicts); this class only speaks the
 * {@link Authenticator} contract over any {@link CredentialVerifier}.
 *
 * Only the identity comes from RabbitMQ, not the permissions: what the session then subscribes to
 * and sends goes through the relay's pooled connections, under BROKER_URL's user, and the relay's
 * own rules (docs/protocol.md), not the RabbitMQ user's permissions.
 */
import { Errors, relayError } from '../errors';
import { checkUserName, type AuthRequest, type Authenticator, type Principal } from './authenticator';

/** Asks the broker whether a login and passcode are good. */
export interface CredentialVerifier {
  /**
   * Resolves when the broker accepts them. Rejects with AUTHENTICATION_FAILED when it refuses
   * them, BROKER_UNAVAILABLE when it cannot be asked.
   */
  verify(login: string, passcode: string): Promise<void>;
}

export class BrokerAuthenticator implements Authenticator {
  readonly mode = 'broker';

  constructor(private readonly verifier: CredentialVerifier) {}

  async authenticate(req: AuthRequest): Promise<Principal> {
    const { login, passcode } = req.connectHeaders;
    if (login === undefined || login === '') {
      throw relayError(
        Errors.AUTHENTICATION_FAILED,
        'no login: send your RabbitMQ user name and password as login and passcode in CONNECT',
      );
    }
    checkUserName(login);
    await this.verifier.verify(login, passcode ?? '');
    return Object.freeze({ name: login }); // frozen: the session hands it out as is (no copy per session)
  }
}
