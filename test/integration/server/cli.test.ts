/**
 * The built CLI (`dist/server/cli.js`, what `npm start` and the Docker image run) as an operator
 * meets it: env configuration, --help, readable refusal of bad settings, dev-mode warning, serving,
 * and a clean exit on SIGTERM.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inbox, RawStomp, request, within } from '../../harness/stomp-test-kit';

const CLI = join(__dirname, '..', '..', '..', 'dist', 'server', 'cli.js');

/** Environment without anything from the developer's shell that would change the relay's mode. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...extra };
}

interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the CLI to completion (bounded). */
function runCli(args: string[], env: Record<string, string>, ms = 10_000): Promise<Finished> {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return within(new Promise<Finished>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  }), `stomp-relay ${args.join(' ')} to exit`, ms).catch((err) => { child.kill('SIGKILL'); throw err; });
}

/** A port that was free a moment ago (PORT=0 would hide which port the CLI took). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('server: CLI (dist/server/cli.js)', function () {
  this.timeout(20_000);

  before(function () {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
  });

  it('--help prints the environment table and exits 0', async () => {
    const out = await runCli(['--help'], {});
    expect(out.code).to.equal(0);
    for (const name of ['PORT', 'HOST', 'BROKER_URL', 'BROKER_AMQP_URL', 'AUTH_MODE', 'AUTH_JWT_SECRET', 'AUTH_JWT_REQUIRE_EXP', 'ALLOWED_ORIGINS', 'HEARTBEAT_SEND_MS', 'LOG_LEVEL']) {
      expect(out.stdout).to.match(new RegExp(`^\\s+${name}\\s+\\S`, 'm'), `${name} row in --help`);
    }
    expect(out.stdout).to.include('/ws');
    expect(out.stdout).to.include('/sockjs');
  });

  it('refuses PORT=abc with a readable message and a non-zero exit', async () => {
    const out = await runCli([], { PORT: 'abc' });
    expect(out.code).to.not.equal(0);
    expect(out.stderr).to.match(/PORT must be a whole number, got "abc"/);
    expect(out.stderr, 'no stack trace for a config mistake').to.not.match(/\n\s+at /);
  });

  it('refuses an unusable BROKER_URL and an unknown option, non-zero, with a message', async () => {
    const bad = await runCli([], { BROKER_URL: 'http://rabbit:15672' });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/BROKER_URL must start with stomp:\/\//);
    // A list of cluster nodes with one bad entry: named, not read as one URL with a strange vhost.
    const list = await runCli([], { BROKER_URL: 'stomp://guest:guest@127.0.0.1:61613/,stomp//127.0.0.1:61623/' });
    expect(list.code).to.not.equal(0);
    expect(list.stderr).to.match(/BROKER_URL entry 2 of 2 \(stomp\/\/127\.0\.0\.1:61623\/\): is not a URL/);
    const unknown = await runCli(['--bogus'], {});
    expect(unknown.code).to.not.equal(0);
    expect(unknown.stderr).to.include('--bogus');
  });

  const authRefusals: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown AUTH_MODE', { AUTH_MODE: 'ldap' }, /AUTH_MODE must be one of dev, jwt, broker, got "ldap"/],
    ['AUTH_MODE=broker without BROKER_URL', { AUTH_MODE: 'broker' }, /AUTH_MODE=broker needs BROKER_URL/],
    ['AUTH_MODE=jwt without AUTH_JWT_SECRET', { AUTH_MODE: 'jwt' }, /AUTH_MODE=jwt needs AUTH_JWT_SECRET/],
    ['an AUTH_JWKS_URL that is not http(s)', { AUTH_JWKS_URL: 'ftp://keys.example/jwks.json' }, /AUTH_JWKS_URL must be an http\(s\) URL, got "ftp:\/\/keys\.example\/jwks\.json"/],
    ['AUTH_JWT_REQUIRE_EXP=maybe', { AUTH_JWT_REQUIRE_EXP: 'maybe' }, /AUTH_JWT_REQUIRE_EXP must be true or false, got "maybe"/],
  ];
  for (const [name, env, says] of authRefusals) {
    it(`refuses ${name} with a readable message and exit status 2`, async () => {
      const out = await runCli([], env);
      expect(out.code).to.equal(2);
      expect(out.stderr).to.match(says);
      expect(out.stderr, 'no stack trace for a config mistake').to.not.match(/\n\s+at /);
    });
  }

  it('refuses ADMIN_PORT equal to PORT, and ADMIN_PORT=abc, with exit status 2', async () => {
    const same = await runCli([], { PORT: '8123', ADMIN_PORT: '8123' });
    expect(same.code).to.equal(2);
    expect(same.stderr).to.match(/ADMIN_PORT must differ from PORT/);
    const bad = await runCli([], { ADMIN_PORT: 'abc' });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/ADMIN_PORT must be a whole number, got "abc"/);
  });

  const aclDir = mkdtempSync(join(tmpdir(), 'stomp-relay-cli-acl-'));

  it('refuses an ACL_FILE with problems, listing every one, with exit status 2', async () => {
    const file = join(aclDir, 'bad.yaml');
    writeFileSync(file, 'default: perhaps\nrules:\n  - destination: /user/{user}/queue/#\n    allow: { claims: { sub: {user} } }\n  - destination: /topic/x\n    commands: [UNSUBSCRIBE]\n    allow: anyone\n');
    const out = await runCli([], { ACL_FILE: file });
    expect(out.code).to.equal(2);
    expect(out.stderr).to.include(`ACL_FILE ${file} has 3 problems`);
    expect(out.stderr).to.match(/default: must be "allow" or "deny", got "perhaps"/);
    expect(out.stderr).to.match(/rules\[0\]\.allow\.claims\.sub: YAML read \{user\} as a mapping; put the template in quotes/);
    expect(out.stderr).to.match(/rules\[1\]\.commands\[0\]: "UNSUBSCRIBE" is always allowed/);
    expect(out.stderr, 'no stack trace for a config mistake').to.not.match(/\n\s+at /);
    const missing = await runCli([], { ACL_FILE: join(aclDir, 'missing.yaml') });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/missing\.yaml: cannot read it \(ENOENT\)/);
  });

  describe('running', () => {
    let child: ChildProcess;
    let port: number;
    const lines = new Inbox<Record<string, unknown>>();
    let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

    before(async () => {
      port = await freePort();
      const aclFile = join(aclDir, 'acl.json');
      writeFileSync(aclFile, JSON.stringify({ default: 'allow', rules: [{ destination: '/topic/cli-private.#', allow: 'nobody' }] }));
      child = spawn(process.execPath, [CLI], {
        env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1', INSTANCE_ID: 'cli-test', SHUTDOWN_GRACE_MS: '1000', LOG_LEVEL: 'info', ACL_FILE: aclFile }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      let partial = '';
      child.stdout!.on('data', (d: Buffer) => {
        partial += d.toString();
        let nl: number;
        while ((nl = partial.indexOf('\n')) !== -1) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          try { lines.push(JSON.parse(line)); } catch { lines.push({ msg: line }); }
        }
      });
      for (;;) {
        const line = await lines.next('the "stomp-relay listening" log line', 10_000);
        if (line.msg === 'stomp-relay listening') break;
      }
    });

    after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });

    it('warns that it runs in dev mode (no AUTH_JWT_SECRET), as a structured log line', () => {
      const warning = lines.all.find((l) => typeof l.msg === 'string' && l.msg.includes('AUTH_JWT_SECRET is not set'));
      expect(warning, JSON.stringify(lines.all)).to.not.equal(undefined);
      expect(warning!.level, 'pino warn = 40').to.equal(40);
      expect(lines.all.find((l) => l.msg === 'stomp-relay listening')).to.include({ port });
    });

    it('serves /healthz and STOMP on the configured port', async () => {
      const health = await request(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).to.equal(200);
      expect(health.body.instanceId).to.equal('cli-test');
      const raw = await RawStomp.open(`ws://127.0.0.1:${port}/ws`);
      const connected = await raw.connect({ login: 'ops' });
      expect(connected.headers.server).to.include('cli-test');
      await raw.close();
    });

    it('applies the rules of ACL_FILE', async () => {
      expect(lines.all.find((l) => l.msg === 'authorization rules loaded')).to.include({ rules: 1, default: 'allow' });
      const raw = await RawStomp.open(`ws://127.0.0.1:${port}/ws`);
      await raw.connect({ login: 'ops' });
      raw.sendFrame('SUBSCRIBE', { id: 'open', destination: '/topic/cli-open', receipt: 'open' });
      await raw.expect('RECEIPT');
      raw.sendFrame('SUBSCRIBE', { id: 'private', destination: '/topic/cli-private.plans' });
      const error = await raw.expect('ERROR');
      expect(error.headers.code).to.equal('ACCESS_DENIED');
      await raw.waitClosed();
    });

    it('on SIGTERM tells clients SHUTTING_DOWN and exits 0', async () => {
      const raw = await RawStomp.open(`ws://127.0.0.1:${port}/ws`);
      await raw.connect();
      child.kill('SIGTERM');
      const error = await raw.nextError();
      expect(error.headers.code).to.equal('SHUTTING_DOWN');
      const { code, signal } = await within(exited, 'the CLI to exit after SIGTERM', 8_000);
      expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    });
  });
});
