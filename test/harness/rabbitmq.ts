/**
 * Private RabbitMQ nodes for tests: each one has its own Erlang node name, ports, data, logs and
 * cookie, so tests can stop and restart it (simulated outages) without touching any other node on
 * the machine. The node runs broker/rabbitmq.conf, the config operators run, with only the ports
 * rewritten.
 *
 * Needs the Debian package (`apt-get install -y rabbitmq-server`); test/run-all.sh installs it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where Debian's rabbitmq-server package puts the scripts. */
export const RABBITMQ_BIN = process.env.RABBITMQ_BIN ?? '/usr/lib/rabbitmq/bin';

/** The config operators run; tests generate theirs from it. */
export const BROKER_CONF = path.resolve(__dirname, '../../broker/rabbitmq.conf');


export interface RabbitNodeOptions {
  /** Plugins to enable. Default: STOMP and Web-STOMP (management is left out: slower boot, no use in tests). */
  plugins?: string[];
  /** How long start() waits for the STOMP port. Default 60 s (a node boots in ~5 s on an idle box). */
  bootTimeoutMs?: number;
  /** Parent folder of the node's private folder. Default: the OS temp dir. */
  baseDir?: string;
  /**
   * Content of the node's Erlang cookie (`$HOME/.erlang.cookie`, mode 400, in its private HOME).
   * Nodes of one cluster need the same one. Default: Erlang makes a random one at first boot.
   */
  erlangCookie?: string;
  /** Ports not to pick, e.g. those of other nodes prepared but not yet booted. */
  avoidPorts?: ReadonlySet<number>;
  /**
   * Extra flags for the node's Erlang VM (`RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS`), e.g. the
   * scheduler busy-wait settings a benchmark compares. Default: none (RabbitMQ's own defaults).
   */
  erlArgs?: string;
}

export interface RabbitConnectionInfo {
  /** `client ip:port -> server ip:port` */
  name: string;
  user: string;
  state: string;
  peerPort: number;
  /** The node's STOMP port it is connected to: tells which node of a cluster holds it. */
  serverPort: number;
}

export interface RabbitConsumerInfo {
  queue: string;
  consumerTag: string;
  ackRequired: boolean;
  prefetchCount: number;
  /** The channel it consumes on, as {@link RabbitChannelInfo.pid} names it. */
  channelPid: string;
}

export interface RabbitChannelInfo {
  pid: string;
  /** `client ip:port -> server ip:port (n)`: a STOMP connection has one channel. */
  name: string;
  /** The node's STOMP (or AMQP) port the channel's connection is on. */
  serverPort: number;
  consumerCount: number;
}

export interface RabbitQueueInfo {
  name: string;
  durable: boolean;
  autoDelete: boolean;
  exclusive: boolean;
  messages: number;
  consumers: number;
  /** `classic`, `quorum` or `stream`. */
  type: string;
  /** Node name of a quorum queue's or stream's leader; '' for classic queues. */
  leader: string;
}


export interface RabbitBindingInfo {
  exchange: string;
  queue: string;
  routingKey: string;
}

export interface RabbitNodePorts {
  amqp: number;
  dist: number;
  stomp: number;
  webStomp: number;
  management: number;
}

/**
 * One private RabbitMQ node. Create with {@link startRabbitNode} (or {@link createRabbitNode} to
 * know its ports before it runs). {@link stop} always cleans up; the node is also killed if the
 * test process exits without stopping it.
 */
export class RabbitNode {
  readonly nodeName: string;
  readonly dir: string;
  readonly ports: RabbitNodePorts;
  private readonly options: Required<Pick<RabbitNodeOptions, 'plugins' | 'bootTimeoutMs'>> & Pick<RabbitNodeOptions, 'erlArgs'>;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> | undefined;
  private readonly killOnExit = (): void => this.killNow();
  private stopped = false;

  /** @internal use {@link createRabbitNode} */
  constructor(nodeName: string, dir: string, ports: RabbitNodePorts, options: RabbitNodeOptions) {
    this.nodeName = nodeName;
    this.dir = dir;
    this.ports = ports;
    this.options = {
      plugins: options.plugins ?? ['rabbitmq_stomp', 'rabbitmq_web_stomp'],
      bootTimeoutMs: options.bootTimeoutMs ?? 60_000,
      erlArgs: options.erlArgs,
    };
  }

  get stompPort(): number { return this.ports.stomp; }
  get webStompPort(): number { return this.ports.webStomp; }
  /** What the relay's BROKER_URL would be. */
  get brokerUrl(): string { return `stomp://guest:guest@127.0.0.1:${this.ports.stomp}/`; }

  /** What the relay's BROKER_AMQP_URL would be (the node's AMQP port is private too). */
  get amqpUrl(): string { return `amqp://guest:guest@127.0.0.1:${this.ports.amqp}/`; }

  /** The library options of a relay using this node. */
  get relayOptions(): { brokerUrl: string; brokerAmqpUrl: string } {
    return { brokerUrl: this.brokerUrl, brokerAmqpUrl: this.amqpUrl };
  }

  /** BROKER_URL and BROKER_AMQP_URL for a relay process using this node. */
  get relayEnv(): { BROKER_URL: string; BROKER_AMQP_URL: string } {
    return { BROKER_URL: this.brokerUrl, BROKER_AMQP_URL: this.amqpUrl };
  }
  /** True while the Erlang VM runs (the RabbitMQ app may be stopped: see {@link stopApp}). */
  get running(): boolean { return this.child !== undefined; }
  get logFile(): string { return path.join(this.dir, 'log', `${this.nodeName}.log`); }

  /** Boots the node and waits until its STOMP listener accepts connections. */
  async start(): Promise<this> {
    if (this.stopped) throw new Error(`RabbitMQ node ${this.nodeName} was stopped; create a new one`);
    if (this.child) return this;
    const out = openSync(path.join(this.dir, 'stdout.log'), 'a');
    // `exec` keeps one process to signal; `detached` gives it its own process group so the exit
    // hook can kill the wrapper and the Erlang VM together.
    const child = spawn('bash', ['-c', `ulimit -n "$(ulimit -Hn)"; exec "${RABBITMQ_BIN}/rabbitmq-server"`], {
      env: this.env(),
      stdio: ['ignore', out, out],
      detached: true,
    });
    closeSync(out);
    this.child = child;
    this.childExit = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => { if (this.child === child) this.child = undefined; });
    process.once('exit', this.killOnExit);
    try {
      await this.waitForPort(true, this.options.bootTimeoutMs, 'boot');
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this;
  }

  /** Stops the node (gracefully, then by force) and deletes its folder. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child && this.childExit) {
      const exited = this.childExit;
      child.kill('SIGTERM'); // the rabbitmq-server script turns TERM into an orderly shutdown
      const timer = setTimeout(() => this.killNow(), 15_000);
      await exited;
      clearTimeout(timer);
      // The wrapper can exit while the VM's helpers (same process group) still write to the folder.
      if (child.pid) await waitForGroupExit(child.pid, 5_000);
    }
    process.removeListener('exit', this.killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Kills the node hard, as a crash or a lost machine would: SIGKILL to its whole process group (the
   * Erlang VM and its helpers), no orderly shutdown. Resolves once every process of it is gone. Its
   * folder stays: {@link start} boots it again with its data (a cluster member rejoins its cluster).
   */
  async kill(): Promise<void> {
    const child = this.child;
    const exited = this.childExit;
    if (!child?.pid || !exited) return;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
    await waitForGroupExit(child.pid, 5_000);
    process.removeListener('exit', this.killOnExit);
  }

  /** Stops the RabbitMQ application (the VM stays up): every client connection drops, ports close. */
  async stopApp(): Promise<void> {
    await this.ctl(['stop_app']);
    await this.waitForPort(false, 30_000, 'stop_app');
  }

  /** Starts the application again after {@link stopApp}; resolves once STOMP accepts connections. */
  async startApp(): Promise<void> {
    await this.ctl(['start_app']);
    await this.waitForPort(true, 30_000, 'start_app');
  }

  /**
   * STOMP connections (`list_stomp_connections`: RabbitMQ 3.10's `list_connections` leaves out the
   * STOMP plugin's connections, which it opens as direct, in-VM AMQP connections). In a cluster,
   * those of every node: {@link RabbitConnectionInfo.serverPort} tells them apart.
   */
  async listConnections(): Promise<RabbitConnectionInfo[]> {
    const rows = await this.ctlJson(['list_stomp_connections', 'conn_name', 'auth_login', 'connection_state', 'peer_port']);
    return rows.map((r) => ({
      name: text(r.conn_name),
      user: text(r.auth_login),
      state: text(r.connection_state),
      peerPort: Number(r.peer_port),
      serverPort: Number(text(r.conn_name).split(':').pop()),
    }));
  }

  /** Consumers of the default vhost: one per broker-side subscription. */
  async listConsumers(): Promise<RabbitConsumerInfo[]> {
    const rows = await this.ctlJson(['list_consumers', 'queue_name', 'consumer_tag', 'ack_required', 'prefetch_count', 'channel_pid']);
    return rows.map((r) => ({
      queue: text(r.queue_name),
      consumerTag: text(r.consumer_tag),
      ackRequired: r.ack_required === true,
      prefetchCount: Number(r.prefetch_count),
      channelPid: text(r.channel_pid),
    }));
  }

  /** Channels (in a cluster, of every node). */
  async listChannels(): Promise<RabbitChannelInfo[]> {
    const rows = await this.ctlJson(['list_channels', 'pid', 'name', 'consumer_count']);
    return rows.map((r) => {
      const name = text(r.name);
      return { pid: text(r.pid), name, serverPort: Number(/:(\d+) \(\d+\)$/.exec(name)?.[1]), consumerCount: Number(r.consumer_count) };
    });
  }

  /** Queues of the default vhost; with `local`, only those this node hosts (in a cluster). */
  async listQueues(options: { local?: boolean } = {}): Promise<RabbitQueueInfo[]> {
    const columns = ['name', 'durable', 'auto_delete', 'exclusive', 'messages', 'consumers', 'type', 'leader'];
    const rows = await this.ctlJson(['list_queues', ...columns, ...(options.local ? ['--local'] : [])]);
    return rows.map((r) => ({
      name: text(r.name),
      durable: r.durable === true,
      autoDelete: r.auto_delete === true,
      exclusive: r.exclusive === true,
      messages: Number(r.messages),
      consumers: Number(r.consumers),
      type: text(r.type),
      leader: text(r.leader ?? ''),
    }));
  }

  /** Bindings of the default vhost to queues (the default exchange's implicit ones left out). */
  async listBindings(): Promise<RabbitBindingInfo[]> {
    const rows = await this.ctlJson(['list_bindings', 'source_name', 'destination_name', 'destination_kind', 'routing_key']);
    return rows
      .filter((r) => text(r.destination_kind) === 'queue' && text(r.source_name) !== '')
      .map((r) => ({ exchange: text(r.source_name), queue: text(r.destination_name), routingKey: text(r.routing_key) }));
  }

  /** Runs `rabbitmqctl -n <node> ...args` against this node; resolves with its stdout. */
  ctl(args: string[], timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(`${RABBITMQ_BIN}/rabbitmqctl`, ['-n', this.nodeName, ...args], { env: this.env(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`rabbitmqctl ${args.join(' ')} failed: ${err.message}\n${stderr}`));
          else resolve(stdout);
        });
    });
  }

  /** Last lines of the node's log, for error messages. */
  logTail(lines = 40): string {
    const parts: string[] = [];
    for (const file of [this.logFile, path.join(this.dir, 'stdout.log')]) {
      try {
        parts.push(`--- ${file}\n${readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`);
      } catch {
        parts.push(`--- ${file}: (none)`);
      }
    }
    return parts.join('\n');
  }

  private async ctlJson(args: string[]): Promise<Array<Record<string, unknown>>> {
    const out = await this.ctl([...args, '--formatter', 'json', '--quiet']);
    const start = out.indexOf('[');
    return start < 0 ? [] : (JSON.parse(out.slice(start)) as Array<Record<string, unknown>>);
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      HOME: path.join(this.dir, 'home'), // the Erlang cookie lives here
      RABBITMQ_CONF_ENV_FILE: path.join(this.dir, 'rabbitmq-env.conf'), // empty: Debian's would override us
      RABBITMQ_USE_LONGNAME: 'false',
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.ports.amqp),
      RABBITMQ_DIST_PORT: String(this.ports.dist),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(this.dir, 'rabbitmq.pid'),
      ...(this.options.erlArgs ? { RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: this.options.erlArgs } : {}),
    };
  }

  private async waitForPort(open: boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.child) throw new Error(`RabbitMQ node ${this.nodeName} exited during ${what}\n${this.logTail()}`);
      if ((await canConnect(this.ports.stomp)) === open) return;
      if (Date.now() > deadline) {
        throw new Error(`RabbitMQ node ${this.nodeName}: STOMP port ${this.ports.stomp} still ${open ? 'closed' : 'open'} ` +
          `${timeoutMs} ms after ${what}\n${this.logTail()}`);
      }
      await delay(100);
    }
  }

  /** Synchronous last resort (process exit): kill the node's whole process group. */
  private killNow(): void {
    const child = this.child;
    if (child?.pid) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (this.stopped || !child) return;
    try { rmSync(this.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}

/** Waits until no process of group `pgid` is left; kills the rest after `timeoutMs`. */
async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (alive()) {
    if (Date.now() > deadline) {
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Prepares a private node (folder, config, free ports) without starting it, so a test can hand its
 * {@link RabbitNode.brokerUrl} to the relay before the broker exists.
 */
export async function createRabbitNode(options: RabbitNodeOptions = {}): Promise<RabbitNode> {
  if (!existsSync(path.join(RABBITMQ_BIN, 'rabbitmq-server'))) {
    throw new Error(`rabbitmq-server not found in ${RABBITMQ_BIN}. Install it: apt-get install -y rabbitmq-server ` +
      '(test/run-all.sh does this), or set RABBITMQ_BIN.');
  }
  const dir = mkdtempSync(path.join(options.baseDir ?? os.tmpdir(), 'stomprelay-rabbit-'));
  const nodeName = `stomprelay-test-${process.pid}-${randomBytes(3).toString('hex')}@localhost`;
  const [amqp, dist, stomp, webStomp, management] = await freePorts(5, options.avoidPorts);
  const ports: RabbitNodePorts = { amqp, dist, stomp, webStomp, management };
  for (const sub of ['home', 'mnesia', 'log']) mkdirSync(path.join(dir, sub));
  if (options.erlangCookie !== undefined) {
    // Erlang refuses a cookie file others can read.
    const cookie = path.join(dir, 'home', '.erlang.cookie');
    writeFileSync(cookie, options.erlangCookie, { mode: 0o400 });
    chmodSync(cookie, 0o400);
  }
  writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  writeFileSync(path.join(dir, 'rabbitmq.conf'), renderConfig(readFileSync(BROKER_CONF, 'utf8'), ports));
  const plugins = options.plugins ?? ['rabbitmq_stomp', 'rabbitmq_web_stomp'];
  writeFileSync(path.join(dir, 'enabled_plugins'), `[${plugins.join(',')}].\n`);
  return new RabbitNode(nodeName, dir, ports, options);
}

/** Creates and boots a private node. */
export async function startRabbitNode(options: RabbitNodeOptions = {}): Promise<RabbitNode> {
  const node = await createRabbitNode(options);
  return node.start();
}

/**
 * broker/rabbitmq.conf with this node's ports. Every port key must be present: if the shipped
 * config drops one, tests fail here instead of colliding with another node.
 */
export function renderConfig(conf: string, ports: RabbitNodePorts): string {
  const overrides: Record<string, number> = {
    'listeners.tcp.default': ports.amqp,
    'stomp.listeners.tcp.1': ports.stomp,
    'web_stomp.tcp.port': ports.webStomp,
    'management.tcp.port': ports.management,
  };
  const seen = new Set<string>();
  const lines = conf.split('\n').map((line) => {
    const eq = line.indexOf('=');
    if (line.trimStart().startsWith('#') || eq < 0) return line;
    const key = line.slice(0, eq).trim();
    if (!(key in overrides)) return line;
    seen.add(key);
    return `${key} = ${overrides[key]}`;
  });
  for (const key of Object.keys(overrides)) {
    if (!seen.has(key)) throw new Error(`${BROKER_CONF} has no "${key} = ..." line; the test harness needs it`);
  }
  return lines.join('\n');
}

/** Ports the OS says are free now, distinct, outside rabbitmqctl's own range. */
/**
 * Ports below Linux's ephemeral range (32768-60999), and so also below the distribution ports
 * rabbitmqctl's own Erlang VM uses (35672-35682): a port the OS hands out for outgoing
 * connections (the relay's own reconnect attempts, any client) could otherwise be taken between
 * choosing it and the node binding it, most of all for nodes prepared before they boot.
 */
const NODE_PORTS = { min: 20_000, max: 32_000 };

async function freePorts(count: number, avoid: ReadonlySet<number> = new Set()): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempts = 0; ports.size < count; attempts++) {
    if (attempts > 1000) throw new Error(`no ${count} free ports between ${NODE_PORTS.min} and ${NODE_PORTS.max}`);
    const port = NODE_PORTS.min + Math.floor(Math.random() * (NODE_PORTS.max - NODE_PORTS.min));
    if (ports.has(port) || avoid.has(port)) continue;
    if (await canBind(port)) ports.add(port);
  }
  return [...ports];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted now (1 s bound). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/** rabbitmqctl's JSON shows some Erlang strings as lists of char codes. */
function text(value: unknown): string {
  if (Array.isArray(value) && value.every((c) => typeof c === 'number')) return String.fromCharCode(...(value as number[]));
  return String(value);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What `rabbitmqctl cluster_status` says, as seen from one member. */
export interface RabbitClusterStatus {
  /** Every member the cluster knows of, running or not. */
  diskNodes: string[];
  /** Members running the RabbitMQ application now. */
  runningNodes: string[];
  /** Network partitions each node reports (empty when healthy). */
  partitions: Record<string, string[]>;
}

/**
 * A RabbitMQ cluster on this machine, made of private nodes ({@link RabbitNode}) that share one
 * Erlang cookie. Create with {@link startRabbitCluster}; {@link stop} removes every node.
 */
export class RabbitCluster {
  readonly nodes: readonly RabbitNode[];

  /** @internal use {@link startRabbitCluster} */
  constructor(nodes: RabbitNode[]) {
    this.nodes = nodes;
  }

  /** BROKER_URL listing every node, in order. */
  get brokerUrl(): string { return this.nodes.map((n) => n.brokerUrl).join(','); }
  /** BROKER_AMQP_URL listing every node, in order. */
  get amqpUrl(): string { return this.nodes.map((n) => n.amqpUrl).join(','); }

  /** The library options of a relay using the cluster (every node, STOMP and AMQP). */
  get relayOptions(): { brokerUrl: string; brokerAmqpUrl: string } {
    return { brokerUrl: this.brokerUrl, brokerAmqpUrl: this.amqpUrl };
  }
  /** Nodes whose VM runs now (a {@link kill}ed one is left out). */
  get running(): RabbitNode[] { return this.nodes.filter((n) => n.running); }

  /** The node whose STOMP listener is `port`, if any (e.g. a relay connection's server port). */
  nodeWithStompPort(port: number): RabbitNode | undefined {
    return this.nodes.find((n) => n.stompPort === port);
  }

  /** The member named `nodeName` (`name@localhost`, as cluster_status and queue leaders say). */
  nodeNamed(nodeName: string): RabbitNode | undefined {
    return this.nodes.find((n) => n.nodeName === nodeName);
  }

  /** The running node that hosts classic queue `name` (for a quorum queue or stream: see its `leader`). */
  async nodeHostingQueue(name: string): Promise<RabbitNode | undefined> {
    for (const node of this.running) {
      if ((await node.listQueues({ local: true })).some((q) => q.name === name)) return node;
    }
    return undefined;
  }

  /** SIGKILLs one node's process group (see {@link RabbitNode.kill}); the others carry on. */
  async kill(node: RabbitNode | number): Promise<void> {
    await (typeof node === 'number' ? this.nodes[node] : node).kill();
  }

  /**
   * Boots every killed node again, with its data: it rejoins the cluster by itself. Resolves once
   * the cluster reports every node running.
   */
  async restartKilled(): Promise<void> {
    const killed = this.nodes.filter((n) => !n.running);
    if (killed.length === 0) return;
    await Promise.all(killed.map((n) => n.start()));
    const status = await this.status();
    const missing = this.nodes.filter((n) => !status.runningNodes.includes(n.nodeName));
    if (missing.length > 0) throw new Error(`${missing.map((n) => n.nodeName).join(', ')} did not rejoin: ${JSON.stringify(status)}`);
  }

  /** Cluster status as `via` (default: the first running node) sees it. */
  async status(via: RabbitNode | undefined = this.running[0]): Promise<RabbitClusterStatus> {
    if (!via) throw new Error('no node of the cluster is running');
    const out = await via.ctl(['cluster_status', '--formatter', 'json']);
    const raw = JSON.parse(out.slice(out.indexOf('{'))) as { disk_nodes?: string[]; running_nodes?: string[]; partitions?: Record<string, string[]> };
    return { diskNodes: raw.disk_nodes ?? [], runningNodes: raw.running_nodes ?? [], partitions: raw.partitions ?? {} };
  }

  /**
   * Removes every node. Killed rather than shut down in order: their data is thrown away, and an
   * orderly shutdown of clustered nodes takes seconds each.
   */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      await n.kill();
      await n.stop();
    }));
  }
}

/**
 * Builds a RabbitMQ cluster of `size` private nodes on this machine: own names, ports and data,
 * one Erlang cookie. All nodes boot at once; nodes 2..n then join node 1 (`stop_app`,
 * `join_cluster`, `start_app`). Resolves once node 1 sees every node running. Measured on this
 * 2-core box under a load average of 12-13: ~37 s for three nodes, of which ~10 s joining.
 */
export async function startRabbitCluster(size = 3, options: Omit<RabbitNodeOptions, 'erlangCookie' | 'avoidPorts'> = {}): Promise<RabbitCluster> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`a cluster needs at least one node, got ${size}`);
  const erlangCookie = randomBytes(15).toString('hex').toUpperCase();
  const nodes: RabbitNode[] = [];
  const taken = new Set<number>();
  // One at a time: each must not pick the ports of those prepared before it.
  for (let i = 0; i < size; i++) {
    const node = await createRabbitNode({ ...options, erlangCookie, avoidPorts: taken });
    for (const port of Object.values(node.ports)) taken.add(port);
    nodes.push(node);
  }
  const cluster = new RabbitCluster(nodes);
  try {
    // Independent nodes until they join: booted at once (three in ~half the time of one by one).
    // Joins one at a time (starting the joined nodes' applications at once saved nothing here).
    await Promise.all(nodes.map((n) => n.start()));
    const [first, ...others] = nodes;
    for (const node of others) {
      await node.ctl(['stop_app']);
      await node.ctl(['join_cluster', first.nodeName]);
      await node.startApp();
    }
    const status = await cluster.status(first);
    const missing = nodes.filter((n) => !status.runningNodes.includes(n.nodeName));
    if (missing.length > 0) throw new Error(`cluster formed without ${missing.map((n) => n.nodeName).join(', ')}: ${JSON.stringify(status)}`);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * The node shared by every test file of one mocha process: booting one takes seconds, so files
 * share it and must leave it running (after stopApp, call startApp). Stopped by the root hook in
 * test/harness/rabbitmq-hooks.ts, or killed at process exit.
 */
const shared: { node?: Promise<RabbitNode> } = {};

export function sharedRabbitNode(): Promise<RabbitNode> {
  if (!shared.node) {
    shared.node = startRabbitNode();
    shared.node.catch(() => { shared.node = undefined; });
  }
  return shared.node;
}

/** Stops the shared node if one was started. */
export async function stopSharedRabbitNode(): Promise<void> {
  const pending = shared.node;
  shared.node = undefined;
  if (pending) await (await pending.catch(() => undefined))?.stop();
}
