/**
 * Runs the production gateway config (deploy/nginx.conf) natively for tests: the same file
 * docker-compose uses, rendered with this test's upstream addresses, a free port on 127.0.0.1,
 * and private logs and temp paths, then run as a child process (`nginx -p <dir> -c <conf>
 * -g 'daemon off; pid …;'`).
 *
 * ```ts
 * const gateway = await startNginx({ upstreams: [relayA.address, relayB.address] });
 * // … connect browsers to gateway.url …
 * await gateway.stop();
 * ```
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The gateway config that docker-compose mounts. */
export const NGINX_CONF_PATH = resolve(__dirname, '..', '..', 'deploy', 'nginx.conf');

/** Debian puts nginx here; `NGINX_PATH` overrides it. */
export const NGINX_BIN = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

/** Why nginx tests cannot run here, or undefined if they can. Suites pass it to requireTool (unavailable.ts). */
export function nginxUnavailableReason(): string | undefined {
  if (!existsSync(NGINX_BIN)) return `no nginx at ${NGINX_BIN} (apt-get install -y nginx-light)`;
  return undefined;
}

export interface RenderOptions {
  /** `host:port` of each relay instance, replacing the compose service names in every upstream. */
  upstreams: string[];
  /** `host:port` of each relay's admin port, for upstreams named `*_admin` (default: `upstreams`). */
  adminUpstreams?: string[];
  /** Value of the first `listen` directive (the public gateway), e.g. `127.0.0.1:18080`. */
  listen: string;
  /** Value of the second `listen` directive (the admin gateway), when the config has one. */
  adminListen?: string;
  /** Folder for nginx's temp paths (client bodies, proxy buffers). */
  tempDir: string;
  errorLog: string;
  accessLog: string;
}

/**
 * Renders deploy/nginx.conf (or `template`) for a native run. Throws if the template lacks a line
 * it needs to rewrite, so a reshaped config fails loudly here rather than running with compose's
 * service names.
 */
export function renderNginxConfig(options: RenderOptions, template = readFileSync(NGINX_CONF_PATH, 'utf8')): string {
  if (options.upstreams.length === 0) throw new Error('renderNginxConfig needs at least one upstream');
  const out: string[] = [];
  const seen = { upstream: 0, listen: 0, errorLog: 0, accessLog: 0, http: 0 };
  let inUpstream: string | undefined;
  let serversWritten = false;
  const listens = [options.listen, options.adminListen];
  for (const line of template.split('\n')) {
    const trimmed = line.trim();
    const indent = line.slice(0, line.length - line.trimStart().length);
    const upstreamName = /^upstream\s+(\S+)\s*\{$/.exec(trimmed)?.[1];
    if (upstreamName !== undefined) {
      inUpstream = upstreamName;
      serversWritten = false;
      seen.upstream += 1;
      out.push(line);
    } else if (inUpstream && /^server\s+[^\s;]+(\s[^;]*)?;$/.test(trimmed)) {
      const addresses = inUpstream.endsWith('_admin') ? options.adminUpstreams ?? options.upstreams : options.upstreams;
      if (!serversWritten) for (const address of addresses) out.push(`${indent}server ${address};`);
      serversWritten = true;
    } else if (inUpstream && trimmed === '}') {
      if (!serversWritten) throw new Error('an upstream block in nginx.conf has no `server host:port;` lines');
      inUpstream = undefined;
      out.push(line);
    } else if (/^listen\s+[^;]+;$/.test(trimmed)) {
      const listen = listens[seen.listen];
      seen.listen += 1;
      if (listen === undefined) throw new Error(`nginx.conf has a listen line #${seen.listen} but no address was given for it (adminListen?)`);
      out.push(`${indent}listen ${listen};`);
    } else if (/^error_log\s+[^;]+;$/.test(trimmed)) {
      seen.errorLog += 1;
      out.push(`${indent}error_log ${options.errorLog} info;`);
    } else if (/^access_log\s+[^;]+;$/.test(trimmed)) {
      seen.accessLog += 1;
      // Keep the config's own log format: what it leaves out of the log is part of what is tested.
      const format = /^access_log\s+\S+\s+([^;\s]+)/.exec(trimmed)?.[1] ?? 'combined';
      out.push(`${indent}access_log ${options.accessLog} ${format};`);
    } else if (trimmed === 'http {') {
      seen.http += 1;
      out.push(line);
      // Debian's compiled-in temp paths are under /var/lib/nginx; keep a test's files in its own folder.
      for (const [directive, dir] of [
        ['client_body_temp_path', 'client_body'],
        ['proxy_temp_path', 'proxy'],
        ['fastcgi_temp_path', 'fastcgi'],
        ['uwsgi_temp_path', 'uwsgi'],
        ['scgi_temp_path', 'scgi'],
      ]) {
        out.push(`${indent}    ${directive} ${join(options.tempDir, dir)};`);
      }
    } else {
      out.push(line);
    }
  }
  for (const [what, count] of Object.entries(seen)) {
    if (count === 0) throw new Error(`nginx.conf template has no ${what} line to render`);
  }
  return out.join('\n');
}

/** Runs `nginx -t` on a rendered config; returns nginx's output, throws with it on failure. */
export async function testNginxConfig(config: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stomp-relay-nginx-t-'));
  try {
    const conf = join(dir, 'nginx.conf');
    await writeFile(conf, config);
    const result = spawnSync(NGINX_BIN, ['-t', '-p', dir, '-c', conf, '-g', `pid ${join(dir, 'nginx.pid')};`], { encoding: 'utf8' });
    const output = `${result.stdout}${result.stderr}`;
    if (result.status !== 0) throw new Error(`nginx -t failed:\n${output}`);
    return output;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface NginxGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<adminPort>`: the admin gateway (the config's second server). */
  readonly adminUrl: string;
  readonly adminPort: number;
  /** The private folder with the rendered config, logs and temp paths (removed by stop()). */
  readonly dir: string;
  readonly errorLogPath: string;
  readonly accessLogPath: string;
  readonly process: ChildProcess;
  /** The error log so far (for assertion messages). */
  errorLog(): Promise<string>;
  /** The access log so far. */
  accessLog(): Promise<string>;
  /** Stops nginx (SIGTERM, fast shutdown; SIGKILL after 5 s) and removes its folder unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<void>;
}

/** How many `listen` lines a config has (one per server block here). */
function listenLines(config: string): number {
  return (config.match(/^\s*listen\s+[^;]+;/gm) ?? []).length;
}

/** Finds a port that is free now. nginx cannot listen on port 0 and report it, so we pick one. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Resolves once something accepts TCP connections on `port`; polls every 25 ms. */
async function waitForPort(port: number, deadline: number, exited: () => string | undefined): Promise<void> {
  for (;;) {
    const failure = exited();
    if (failure) throw new Error(failure);
    const up = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts nginx with deploy/nginx.conf in front of `upstreams` (`host:port` each), with its admin
 * gateway in front of `adminUpstreams` (default: the same addresses, for relays without ADMIN_PORT).
 */
export async function startNginx(options: { upstreams: string[]; adminUpstreams?: string[]; port?: number; timeoutMs?: number }): Promise<NginxGateway> {
  const reason = nginxUnavailableReason();
  if (reason) throw new Error(reason);
  const dir = await mkdtemp(join(tmpdir(), 'stomp-relay-nginx-'));
  // Workers run as an unprivileged user when the tests run as root: let them reach the temp paths.
  await chmod(dir, 0o755);
  const tempDir = join(dir, 'temp');
  await mkdir(tempDir);
  const errorLogPath = join(dir, 'error.log');
  const accessLogPath = join(dir, 'access.log');
  const confPath = join(dir, 'nginx.conf');

  // A port picked free can be taken before nginx binds it; then nginx exits and we try another.
  for (let tries = 1; ; tries++) {
    const port = options.port ?? (await freePort());
    let adminPort = await freePort();
    while (adminPort === port) adminPort = await freePort();
    await writeFile(
      confPath,
      renderNginxConfig({
        upstreams: options.upstreams,
        adminUpstreams: options.adminUpstreams,
        listen: `127.0.0.1:${port}`,
        adminListen: `127.0.0.1:${adminPort}`,
        tempDir,
        errorLog: errorLogPath,
        accessLog: accessLogPath,
      }),
    );
    const child = spawn(NGINX_BIN, ['-p', dir, '-c', confPath, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    let exit: string | undefined;
    const exited = once(child, 'exit').then(([code, signal]) => {
      exit = `nginx exited (${signal ?? code}) before listening:\n${output}`;
    });
    try {
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      await waitForPort(port, deadline, () => exit);
      // The admin gateway is the config's second server; a config with one server has none to wait for.
      if (listenLines(readFileSync(NGINX_CONF_PATH, 'utf8')) > 1) await waitForPort(adminPort, deadline, () => exit);
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      const bindRace = /Address already in use/.test(output);
      if (bindRace && options.port === undefined && tries < 3) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }

    return {
      url: `http://127.0.0.1:${port}`,
      port,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      adminPort,
      dir,
      errorLogPath,
      accessLogPath,
      process: child,
      errorLog: () => readFile(errorLogPath, 'utf8').catch(() => ''),
      accessLog: () => readFile(accessLogPath, 'utf8').catch(() => ''),
      async stop({ keep = false } = {}) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        if (!keep) await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
