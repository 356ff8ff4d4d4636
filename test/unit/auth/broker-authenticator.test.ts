import { expect } from 'chai';
import { BrokerAuthenticator, type CredentialVerifier } from '../../../server/auth/broker-authenticator';
import { headers } from '../../../server/codec/frame';
import { Errors, relayError } from '../../../server/errors';
import { expectRelayError } from '../../broker-suite/wait';

const handshake = { remoteAddress: '127.0.0.1', url: '/ws', headers: {} };

/** Accepts alice/secret only; remembers what it was asked. */
class FakeVerifier implements CredentialVerifier {
  readonly asked: Array<[string, string]> = [];
  unavailable = false;
  async verify(login: string, passcode: string): Promise<void> {
    this.asked.push([login, passcode]);
    if (this.unavailable) throw relayError(Errors.BROKER_UNAVAILABLE, 'down');
    if (login !== 'alice' || passcode !== 'secret') throw relayError(Errors.AUTHENTICATION_FAILED, `the broker refused login "${login}"`);
  }
}

describe('BrokerAuthenticator (AUTH_MODE=broker)', () => {
  it('names the user by the CONNECT login once the broker accepted login and passcode', async () => {
    const verifier = new FakeVerifier();
    const auth = new BrokerAuthenticator(verifier);
    expect(auth.mode).to.equal('broker');
    expect(await auth.authenticate({ connectHeaders: headers({ login: 'alice', passcode: 'secret' }), handshake })).to.deep.equal({ name: 'alice' });
    expect(verifier.asked).to.deep.equal([['alice', 'secret']]);
  });

  it('refuses wrong credentials with AUTHENTICATION_FAILED', async () => {
    const auth = new BrokerAuthenticator(new FakeVerifier());
    await expectRelayError(auth.authenticate({ connectHeaders: headers({ login: 'alice', passcode: 'guess' }), handshake }), 'AUTHENTICATION_FAILED');
    await expectRelayError(auth.authenticate({ connectHeaders: headers({ login: 'alice' }), handshake }), 'AUTHENTICATION_FAILED');
  });

  it('refuses a CONNECT without login, and a login no destination could hold, without asking the broker', async () => {
    const verifier = new FakeVerifier();
    const auth = new BrokerAuthenticator(verifier);
    const error = await expectRelayError(auth.authenticate({ connectHeaders: headers({ passcode: 'secret' }), handshake }), 'AUTHENTICATION_FAILED');
    expect(error.message).to.match(/login/);
    await expectRelayError(auth.authenticate({ connectHeaders: headers({ login: 'bad\nname', passcode: 'x' }), handshake }), 'AUTHENTICATION_FAILED');
    expect(verifier.asked).to.deep.equal([]);
  });

  it('passes BROKER_UNAVAILABLE on when the broker cannot tell', async () => {
    const verifier = new FakeVerifier();
    verifier.unavailable = true;
    await expectRelayError(new BrokerAuthenticator(verifier).authenticate({ connectHeaders: headers({ login: 'alice', passcode: 'secret' }), handshake }), 'BROKER_UNAVAILABLE');
  });
});
