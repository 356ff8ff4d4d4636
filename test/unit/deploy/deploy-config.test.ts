/**
 * docker-compose.yml, the Dockerfile, .dockerignore and deploy/nginx.conf must agree with the
 * server and with each other. No Docker engine runs in CI, so a mismatch (a renamed env var, a
 * port changed in one place) would otherwise surface only on an operator's `docker compose up`.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG, ENV_VARS, parseAmqpUrls, parseBrokerUrl } from '../../../server/config';
import { openApiDocument } from '../../../server/http/openapi';
import { nginxUnavailableReason, renderNginxConfig, testNginxConfig } from '../../harness/nginx';
import { engineAdmitsMajor, findAll, parseDockerfile, parseNginxConf, type NginxDirective } from './config-parsers';
import { requireTool } from '../../harness/unavailable';

const ROOT = resolve(__dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  pull_policy?: string;
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
const services = compose.services;
const nginxTree = parseNginxConf(read('deploy/nginx.conf'));
const dockerfile = parseDockerfile(read('Dockerfile'));
const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; engines: { node: string } };

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** Relay services: those running the image built from this repository's Dockerfile. */
const relayNames = Object.keys(services).filter((name) => {
  const s = services[name];
  const builtHere = s.build !== undefined;
  const sameImage = s.image !== undefined && Object.values(services).some((o) => o.build !== undefined && o.image === s.image);
  return builtHere || sameImage;
});

/**
 * Services that run the relay, however their image is named: built here, named like it
 * (`stomp-relay…`), or configured like a relay (BROKER_URL). Wider than relayNames on purpose, so a
 * relay service that could neither build nor find its image is still caught.
 */
const relayImageUsers = Object.keys(services).filter((name) => {
  const s = services[name];
  return s.build !== undefined || /^stomp-relay(:|$)/.test(s.image ?? '') || environment(s).BROKER_URL !== undefined;
});

/** The `docker compose …` commands a text gives in backticks (docs, and comment lines of YAML). */
function composeCommands(text: string): string[] {
  return [...text.matchAll(/`(docker[ -]compose [^`]*)`|^#\s+(docker[ -]compose \S.*?)\s*$/gm)].map((m) => (m[1] ?? m[2]).trim());
}

/** Paths of the admin routes, from the OpenAPI document (path parameters filled with their examples). */
function adminRoutePaths(): string[] {
  const doc = openApiDocument({ version: '0', pushMaxUsers: 1, maxBodyBytes: 1 }) as { paths: Record<string, Record<string, { tags?: string[]; parameters?: Array<{ name: string; example?: unknown }> }>> };
  const out: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const op of Object.values(item)) {
      if (!op.tags?.includes('admin')) continue;
      out.push(path.replace(/\{(\w+)\}/g, (_, name: string) => String(op.parameters?.find((p) => p.name === name)?.example ?? 'x')));
    }
  }
  return [...new Set(out)];
}

function upstream(name: string): NginxDirective {
  const found = findAll(nginxTree, 'upstream').find((u) => u.args[0] === name);
  if (!found) throw new Error(`nginx.conf has no upstream "${name}"`);
  return found;
}

function location(path: string): NginxDirective {
  const found = findAll(nginxTree, 'location').find((l) => l.args[l.args.length - 1] === path);
  if (!found) throw new Error(`nginx.conf has no location for ${path}`);
  return found;
}

/** A directive's value as seen inside `loc`: its own, else inherited from the enclosing server/http. */
function effective(loc: NginxDirective, name: string): NginxDirective[] {
  const own = (loc.children ?? []).filter((d) => d.name === name);
  if (own.length > 0) return own;
  const server = findAll(nginxTree, 'server').find((s) => s.children?.includes(loc));
  const atServer = (server?.children ?? []).filter((d) => d.name === name);
  if (atServer.length > 0) return atServer;
  return (findAll(nginxTree, 'http')[0]?.children ?? []).filter((d) => d.name === name);
}

function seconds(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!m) throw new Error(`not an nginx time: ${value}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 's'] ?? 1;
  return Number(m[1]) * unit;
}

describe('deploy config: docker-compose.yml', () => {
  it('runs two relay instances built from the Dockerfile, plus rabbitmq and nginx', () => {
    expect(relayNames).to.have.length.of.at.least(2);
    expect(services).to.include.keys('rabbitmq', 'nginx');
    expect(services.rabbitmq.image).to.match(/^rabbitmq:3(\.\d+)*-management/);
  });

  it('lets every service that runs the relay image build it, so `docker compose up` never asks a registry for it', () => {
    expect(relayImageUsers).to.include.members(relayNames);
    const builders = relayImageUsers.filter((n) => services[n].build !== undefined);
    for (const name of relayImageUsers) {
      const s = services[name];
      if (s.build !== undefined) {
        const build = typeof s.build === 'string' ? { context: s.build } : s.build;
        expect(resolve(ROOT, build.context), `${name} builds this repository`).to.equal(ROOT);
        expect(existsSync(join(ROOT, build.context, build.dockerfile ?? 'Dockerfile')), `${name}'s Dockerfile exists`).to.equal(true);
        continue;
      }
      // Without build: it must name the image another service builds, and not try to pull it first.
      const builtBy = builders.find((b) => services[b].image !== undefined && services[b].image === s.image);
      expect(builtBy, `${name} (image ${s.image}) has no build: and no service builds its image`).to.not.equal(undefined);
      expect(s.pull_policy, `${name} uses the image ${builtBy} builds: pull_policy never, or compose asks a registry for it`).to.be.oneOf(['never', 'build']);
    }
    // Two services building one tag at once: BuildKit refuses the second ("image already exists").
    const tags = builders.map((n) => services[n].image).filter((t): t is string => t !== undefined);
    expect(new Set(tags).size, 'no image tag is built by two services').to.equal(tags.length);
  });

  it('is started with the same command in its header, the README and docs/operations.md', () => {
    const header = composeCommands(read('docker-compose.yml').split('\nservices:')[0]);
    expect(header, 'docker-compose.yml says how to start it').to.have.length.of.at.least(1);
    const command = header[0];
    expect(command).to.match(/^docker compose up\b/);
    for (const doc of ['README.md', 'docs/operations.md']) {
      const ups = composeCommands(read(doc)).filter((c) => /\bup\b/.test(c));
      expect(ups, `${doc} gives the compose command`).to.have.length.of.at.least(1);
      for (const up of ups) expect(up, doc).to.equal(command);
    }
  });

  it('gives relay services only environment variables the server reads (server/config.ts ENV_VARS)', () => {
    const known = new Set(ENV_VARS.map((v) => v.name));
    for (const name of relayNames) {
      const unknown = Object.keys(environment(services[name])).filter((k) => !known.has(k));
      expect(unknown, `${name} sets variables the server ignores`).to.deep.equal([]);
    }
  });

  it('runs every relay with an ADMIN_PORT other than its PORT, so the public port serves no admin route', () => {
    for (const name of relayNames) {
      const env = environment(services[name]);
      expect(env.ADMIN_PORT, `${name} sets ADMIN_PORT`).to.match(/^\d+$/);
      expect(env.ADMIN_PORT, name).to.not.equal(env.PORT ?? String(DEFAULT_CONFIG.port));
    }
  });

  it('gives every relay its own INSTANCE_ID, so the demo and logs tell them apart', () => {
    const ids = relayNames.map((n) => environment(services[n]).INSTANCE_ID);
    expect(ids.every(Boolean), 'INSTANCE_ID set on every relay').to.equal(true);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it("points every relay's BROKER_URL at the rabbitmq service's STOMP listener", () => {
    const stompPort = /^stomp\.listeners\.tcp\.1\s*=\s*(\d+)\s*$/m.exec(read('broker/rabbitmq.conf'))?.[1];
    expect(stompPort, 'broker/rabbitmq.conf sets stomp.listeners.tcp.1').to.be.a('string');
    for (const name of relayNames) {
      const endpoint = parseBrokerUrl(environment(services[name]).BROKER_URL);
      expect(endpoint.host, name).to.equal('rabbitmq');
      expect(endpoint.port, name).to.equal(Number(stompPort));
      expect(services[name].depends_on?.rabbitmq?.condition, `${name} waits for a healthy broker`).to.equal('service_healthy');
    }
  });

  it("points every relay's BROKER_AMQP_URL at the rabbitmq service's AMQP listener (user and topic routes)", () => {
    const amqpPort = /^listeners\.tcp\.default\s*=\s*(\d+)\s*$/m.exec(read('broker/rabbitmq.conf'))?.[1];
    expect(amqpPort, 'broker/rabbitmq.conf sets listeners.tcp.default').to.be.a('string');
    for (const name of relayNames) {
      const [endpoint] = parseAmqpUrls(environment(services[name]).BROKER_AMQP_URL);
      expect(endpoint.host, name).to.equal('rabbitmq');
      expect(endpoint.port, name).to.equal(Number(amqpPort));
    }
  });

  it('mounts the broker/ config files that exist into /etc/rabbitmq, and checks the STOMP port for health', () => {
    const mounts = (services.rabbitmq.volumes ?? []).map((v) => v.split(':'));
    const targets = mounts.map(([, target]) => target);
    expect(targets).to.include.members(['/etc/rabbitmq/rabbitmq.conf', '/etc/rabbitmq/enabled_plugins']);
    for (const [source, target] of mounts) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).to.equal(true);
      expect(basename(target)).to.equal(basename(source));
    }
    expect(read('broker/enabled_plugins')).to.match(/\brabbitmq_stomp\b/);
    expect(services.rabbitmq.healthcheck?.test.join(' ')).to.match(/rabbitmq-diagnostics/);
  });

  it('publishes nginx on 8080 (public) and its admin gateway on the host\'s loopback only, and mounts deploy/nginx.conf', () => {
    expect(services.nginx.ports).to.deep.equal(['8080:80', '127.0.0.1:8081:8081']);
    expect(services.nginx.volumes).to.include('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro');
    const listens = findAll(nginxTree, 'listen').map((l) => l.args[0]);
    expect(listens).to.deep.equal(['80', '8081']);
    for (const name of relayNames) expect(services.nginx.depends_on?.[name]?.condition, name).to.equal('service_healthy');
  });
});

describe('deploy config: deploy/nginx.conf', () => {
  it('lists exactly the compose relay services in every upstream: on their PORT, or their ADMIN_PORT for *_admin upstreams', () => {
    const on = (variable: 'PORT' | 'ADMIN_PORT') => relayNames.map((n) => `${n}:${environment(services[n])[variable] ?? DEFAULT_CONFIG.port}`).sort();
    const upstreams = findAll(nginxTree, 'upstream');
    expect(upstreams.map((u) => u.args[0])).to.include.members(['relay', 'relay_sockjs', 'relay_admin']);
    for (const u of upstreams) {
      const servers = (u.children ?? []).filter((d) => d.name === 'server').map((d) => d.args[0]).sort();
      expect(servers, `upstream ${u.args[0]}`).to.deep.equal(on(u.args[0].endsWith('_admin') ? 'ADMIN_PORT' : 'PORT'));
    }
  });

  it('serves the admin routes only on the admin gateway: the public server answers them itself, never forwards them', () => {
    const [publicServer, adminServer] = findAll(nginxTree, 'server').filter((d) => d.children !== undefined);
    const adminPaths = adminRoutePaths();
    expect(adminPaths.length).to.be.at.least(6);
    const blocks = (publicServer.children ?? []).filter((d) => d.name === 'location' && d.args[0] === '~');
    for (const path of adminPaths) {
      const block = blocks.find((l) => new RegExp(l.args[1]).test(path));
      expect(block, `a regex location of the public server takes ${path}`).to.not.equal(undefined);
      const inside = (block!.children ?? []).map((d) => d.name);
      expect(inside, `${path} is answered, not proxied`).to.include('return').and.not.include('proxy_pass');
      expect(block!.children!.find((d) => d.name === 'return')!.args[0]).to.equal('404');
    }
    for (const path of ['/ws', '/sockjs/info', '/healthz', '/readyz', '/client/stomp-relay-client.js', '/']) {
      expect(blocks.some((l) => new RegExp(l.args[1]).test(path)), `${path} still reaches the relays`).to.equal(false);
    }
    const proxied = findAll(publicServer.children ?? [], 'proxy_pass').map((d) => d.args[0]);
    expect(proxied.some((u) => u.includes('relay_admin')), 'the public server never proxies to the admin ports').to.equal(false);
    expect(findAll(adminServer.children ?? [], 'proxy_pass').map((d) => d.args[0])).to.deep.equal(['http://relay_admin']);
  });

  it('never writes query strings (access_token) or a raw Referer to the access log', () => {
    const formats = new Map(findAll(nginxTree, 'log_format').map((d) => [d.args[0], d.args.slice(1).join('')]));
    const logs = findAll(nginxTree, 'access_log');
    expect(logs.length).to.be.at.least(1);
    for (const log of logs) {
      if (log.args[0] === 'off') continue;
      const format = log.args[1];
      expect(format, 'access_log names a log_format of its own (the built-in combined logs $request)').to.not.equal(undefined);
      const text = formats.get(format);
      expect(text, `log_format ${format} is defined`).to.be.a('string');
      for (const variable of ['$request ', '$request"', '$request_uri', '$args', '$query_string', '$is_args', '$http_referer', '$arg_']) {
        expect(`${text} `.includes(variable), `log_format ${format} uses ${variable.trim()}`).to.equal(false);
      }
    }
  });

  for (const path of ['/ws', '/sockjs']) {
    it(`proxies ${path} with WebSocket Upgrade headers, HTTP/1.1, unbuffered, with long read timeouts`, () => {
      const loc = location(path);
      expect(effective(loc, 'proxy_pass')[0]?.args[0]).to.match(/^http:\/\/relay/);
      expect(effective(loc, 'proxy_http_version')[0]?.args).to.deep.equal(['1.1']);
      const headers = Object.fromEntries(effective(loc, 'proxy_set_header').map((d) => [d.args[0].toLowerCase(), d.args[1]]));
      expect(headers.upgrade).to.equal('$http_upgrade');
      const mapped = findAll(nginxTree, 'map').find((m) => m.args[1] === headers.connection);
      expect(mapped?.args[0], 'Connection comes from a map over $http_upgrade').to.equal('$http_upgrade');
      expect(effective(loc, 'proxy_buffering')[0]?.args).to.deep.equal(['off']);
      expect(seconds(effective(loc, 'proxy_read_timeout')[0]?.args[0] ?? '60s')).to.be.at.least(600);
    });
  }

  it('keeps a SockJS session on one instance (affinity on /sockjs), since xhr transports span many requests', () => {
    const target = location('/sockjs').children?.find((d) => d.name === 'proxy_pass')?.args[0].replace('http://', '') ?? '';
    const balancer = (upstream(target).children ?? []).map((d) => d.name);
    expect(balancer.some((n) => n === 'hash' || n === 'ip_hash' || n === 'sticky'), `upstream ${target} balances by ${balancer}`).to.equal(true);
  });

  it('renders for native runs with the given upstreams, port, logs and temp paths', () => {
    const rendered = parseNginxConf(
      renderNginxConfig({
        upstreams: ['127.0.0.1:9001', '127.0.0.1:9002'], adminUpstreams: ['127.0.0.1:9101', '127.0.0.1:9102'],
        listen: '127.0.0.1:18080', adminListen: '127.0.0.1:18081', tempDir: '/tmp/x', errorLog: '/tmp/e.log', accessLog: '/tmp/a.log',
      }),
    );
    for (const u of findAll(rendered, 'upstream')) {
      const expected = u.args[0].endsWith('_admin') ? ['127.0.0.1:9101', '127.0.0.1:9102'] : ['127.0.0.1:9001', '127.0.0.1:9002'];
      expect((u.children ?? []).filter((d) => d.name === 'server').map((d) => d.args[0]), u.args[0]).to.deep.equal(expected);
    }
    expect(findAll(rendered, 'listen').map((d) => d.args[0])).to.deep.equal(['127.0.0.1:18080', '127.0.0.1:18081']);
    expect(findAll(rendered, 'access_log')[0].args).to.deep.equal(['/tmp/a.log', 'no_query']);
    expect(findAll(rendered, 'error_log')[0].args[0]).to.equal('/tmp/e.log');
    expect(findAll(rendered, 'proxy_temp_path')[0].args[0]).to.equal('/tmp/x/proxy');
  });

  it('passes `nginx -t` as rendered for native runs', async function () {
    const reason = nginxUnavailableReason();
    // Without nginx (and STOMP_RELAY_ALLOW_SKIP=1) there is nothing to test the syntax with; the structural checks above still ran.
    if (reason) this.test!.title += ` (${reason})`;
    requireTool(this, reason);
    const output = await testNginxConfig(
      renderNginxConfig({ upstreams: ['127.0.0.1:9001', '127.0.0.1:9002'], listen: '127.0.0.1:18080', adminListen: '127.0.0.1:18081', tempDir: '/tmp', errorLog: '/dev/null', accessLog: '/dev/null' }),
    );
    expect(output).to.match(/syntax is ok/);
  });
});

describe('deploy config: Dockerfile', () => {
  const final = Math.max(...dockerfile.map((i) => i.stage));
  const finalStage = dockerfile.filter((i) => i.stage === final);
  const one = (name: string): string => {
    const found = finalStage.filter((i) => i.instruction === name);
    expect(found, `final stage has one ${name}`).to.have.length(1);
    return found[0].value;
  };

  it('runs the package.json bin target with node, in the exec form', () => {
    const cmd = JSON.parse(one('CMD')) as string[];
    expect(cmd).to.deep.equal(['node', pkg.bin['stomp-relay']]);
  });

  it('builds with npm ci and npm run build, and ships without dev dependencies', () => {
    const runs = dockerfile.filter((i) => i.instruction === 'RUN').map((i) => i.value).join(' && ');
    expect(runs).to.include('npm ci');
    expect(runs).to.include('npm run build');
    expect(runs).to.match(/npm prune --omit=dev/);
  });

  it('builds and runs on a slim Debian image of a Node LTS line that package.json engines admits (not end-of-life Node 20)', () => {
    const bases = dockerfile.filter((i) => i.instruction === 'FROM').map((i) => i.value.split(/\s+/)[0]);
    expect(bases.length).to.be.at.least(2);
    const majors = bases.map((image) => {
      const m = /^node:(\d+)(?:\.\d+)*-(?:bookworm-|trixie-)?slim$/.exec(image);
      expect(m, `${image} is node:<major>[-<debian>]-slim`).to.not.equal(null);
      return Number(m![1]);
    });
    expect(new Set(majors).size, 'build and runtime stages use one Node line').to.equal(1);
    const [major] = majors;
    expect(engineAdmitsMajor(pkg.engines.node, major), `engines.node "${pkg.engines.node}" admits the image's Node ${major}`).to.equal(true);
    // Node 20 reached end of life on 2026-04-30; the odd lines before 27 never were LTS.
    for (const old of [16, 18, 20, 21, 23, 25]) {
      expect(engineAdmitsMajor(pkg.engines.node, old), `engines.node admits end-of-life Node ${old}`).to.equal(false);
    }
    expect(major, 'the image runs Node 26 (Active LTS since 2026-10-28) or later').to.be.at.least(26);
  });

  it('runs as a non-root user, exposes PORT, and health-checks /healthz on it', () => {
    expect(one('USER')).to.not.match(/^(root|0)(:|$)/);
    expect(Number(one('EXPOSE'))).to.equal(DEFAULT_CONFIG.port);
    expect(one('ENV')).to.include(`PORT=${DEFAULT_CONFIG.port}`);
    expect(one('HEALTHCHECK')).to.include('/healthz');
  });

  it('copies only paths that exist and that .dockerignore does not exclude', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const sources = dockerfile
      .filter((i) => i.instruction === 'COPY' && !i.value.includes('--from='))
      .flatMap((i) => i.value.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    expect(sources.length).to.be.at.least(1);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).to.equal(true);
      expect(ignored, `${source} is not in .dockerignore`).to.not.include(source.split('/')[0]);
    }
  });
});
