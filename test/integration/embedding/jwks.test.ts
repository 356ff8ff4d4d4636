/**
 * JWTs beyond HS256: RS256, ES256 and EdDSA tokens checked against a JWKS (AUTH_JWKS_URL) that the
 * test serves on loopback, with issuer and audience checks (AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE),
 * for STOMP sessions and the push API. Keys are cached and fetched again for an unknown `kid`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type KeyLike } from 'jose';
import jwt from 'jsonwebtoken';
import { createRelay } from '../../../server/relay';
import type { SessionInfo } from '../../../server/session/session-events';
import { silentLogger } from '../../../server/observability/logger';
import { push, startEmbeddedRelay, trackClients, tryConnect, unique, wsFactory, type TestRelay } from '../../harness/stomp-test-kit';

const ISSUER = 'https://issuer.test/';
const AUDIENCE = 'stomp-relay';

interface SigningKey { alg: string; kid: string; privateKey: KeyLike; jwk: JWK }

async function signingKey(alg: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const kid = unique(alg);
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS endpoint on loopback that counts its requests. */
async function jwksServer(keys: SigningKey[]) {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    keys,
    get requests() { return requests; },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface TokenOptions { iss?: string; aud?: string; exp?: number; claims?: Record<string, unknown>; kid?: string }

function sign(key: SigningKey, sub: string, options: TokenOptions = {}): Promise<string> {
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
    .setSubject(sub)
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 300)
    .sign(key.privateKey);
}

describe('JWT with a JWKS: RS256, ES256, EdDSA, issuer and audience', function () {
  this.timeout(20_000);
  let rs: SigningKey;
  let es: SigningKey;
  let ed: SigningKey;
  let later: SigningKey;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let server: TestRelay;
  const track = trackClients();
  const connects: SessionInfo[] = [];

  before(async () => {
    [rs, es, ed, later] = await Promise.all([signingKey('RS256'), signingKey('ES256'), signingKey('EdDSA'), signingKey('RS256')]);
    jwks = await jwksServer([rs, es, ed]);
    server = await startEmbeddedRelay({
      authJwksUrl: jwks.url, authJwtIssuer: ISSUER, authJwtAudience: [AUDIENCE], authJwksRefreshMs: 0,
    }, (relay) => { relay.on('session:connect', (e) => { connects.push(e); }); });
  });
  after(async () => {
    await server?.close();
    await jwks?.close();
  });

  async function outcome(token: string) {
    const result = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: { Authorization: `Bearer ${token}` } });
    if (result.ok) track(result.client);
    return result;
  }

  async function expectRefused(token: string, says: RegExp): Promise<void> {
    const result = await outcome(token);
    if (result.ok) expect.fail(`connected as ${result.client.connected.headers['user-name']}`);
    expect(result.error.headers.code).to.equal('AUTHENTICATION_FAILED');
    expect(result.error.headers.message).to.match(says);
    await result.closed;
  }

  for (const which of ['RS256', 'ES256', 'EdDSA']) {
    it(`accepts a ${which} token whose key is in the JWKS, and keeps its claims`, async () => {
      const key = { RS256: () => rs, ES256: () => es, EdDSA: () => ed }[which]!();
      const user = unique('ann');
      const result = await outcome(await sign(key, user, { claims: { role: 'admin' } }));
      if (!result.ok) expect.fail(result.error.headers.message);
      expect(result.client.connected.headers['user-name']).to.equal(user);
      const connect = connects.find((e) => e.sessionId === result.client.connected.headers.session);
      expect(connect?.principal?.claims).to.include({ sub: user, role: 'admin', iss: ISSUER, aud: AUDIENCE });
    });
  }

  it('caches the keys: many sessions, one fetch', async () => {
    const before = jwks.requests;
    for (let i = 0; i < 3; i++) expect((await outcome(await sign(rs, unique('ben')))).ok).to.equal(true);
    expect(jwks.requests - before).to.equal(0);
  });

  it('fetches the JWKS again for a kid it does not know (a rotated key)', async () => {
    jwks.keys.push(later);
    const before = jwks.requests;
    expect((await outcome(await sign(later, unique('cat')))).ok).to.equal(true);
    expect(jwks.requests - before).to.equal(1);
  });

  it('refuses an expired token, a wrong audience, a wrong issuer', async () => {
    await expectRefused(await sign(rs, 'dan', { exp: Math.floor(Date.now() / 1000) - 60 }), /expired/);
    await expectRefused(await sign(rs, 'dan', { aud: 'someone-else' }), /"aud"/);
    await expectRefused(await sign(rs, 'dan', { iss: 'https://evil.test/' }), /"iss"/);
  });

  it('refuses a token signed by a key the JWKS does not hold, even under a known kid', async () => {
    const stranger = await signingKey('RS256');
    await expectRefused(await sign(stranger, 'eve', { kid: rs.kid }), /invalid token.*signature/);
    await expectRefused(await sign(stranger, 'eve'), /invalid token.*no key/);
  });

  it('refuses HS256 tokens when no AUTH_JWT_SECRET is set (no key confusion with the public keys)', async () => {
    const publicPem = JSON.stringify(rs.jwk);
    const forged = jwt.sign({ sub: 'mallory', iss: ISSUER, aud: AUDIENCE }, publicPem, { algorithm: 'HS256', expiresIn: 60, keyid: rs.kid });
    await expectRefused(forged, /HS256/);
  });

  describe('push API', () => {
    const body = { destination: '/queue/x', payload: 'hi' };

    it('accepts an RS256 token with the push scope (202), refuses one for another audience (401)', async () => {
      const ok = await push(server, 'alice', body, { token: await sign(rs, 'backend', { claims: { scope: 'push' } }) });
      expect(ok.status).to.equal(202);
      const wrong = await push(server, 'alice', body, { token: await sign(rs, 'backend', { aud: 'other', claims: { scope: 'push' } }) });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.error.message).to.match(/"aud"/);
    });

    it('answers 403 for a valid token without the push scope', async () => {
      const res = await push(server, 'alice', body, { token: await sign(es, 'backend') });
      expect(res.status).to.equal(403);
    });
  });

  it('refuses an AUTH_JWKS_URL that is not an http(s) URL at start', () => {
    expect(() => createRelay({ logger: silentLogger(), authJwksUrl: 'ftp://keys' })).to.throw(/AUTH_JWKS_URL/);
  });
});
