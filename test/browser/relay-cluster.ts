/**
 * Two relay instances on one RabbitMQ node behind the production nginx config: the smallest
 * deployment in which "the browser is on one instance, the backend pushes through another" can be
 * observed. Each instance can be stopped gracefully (`relay.close()`) or cut off hard (listener and
 * every socket destroyed, no ERROR frame, no close handshake), as a crashed process would look to
 * nginx and the browser.
 *
 * {@link startRelayProcessCluster} is the same deployment with each relay in a process of its own
 * (the CLI, as in production), so that one can be SIGKILLed, and with a door (a TCP proxy that can
 * refuse) between nginx and each relay, so a test can decide which instance nginx picks.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createRelay, type CreateRelayOptions, type Relay } from '../../server/relay';
import { silentLogger } from '../../server/observability/logger';
import { freePort, startRelayProcess, type RelayProcess } from '../../bench/lib/relay-process';
import { startNginx, type NginxGateway } from '../harness/nginx';
import { TcpProxy } from '../harness/tcp-proxy';

export interface RelayInstance {
  readonly id: string;
  readonly relay: Relay;
  /** `http://127.0.0.1:<port>`, the instance itself, bypassing nginx. */
  readonly url: string;
  /** `127.0.0.1:<port>`, as written into the nginx upstreams. */
  readonly address: string;
  /** `http://127.0.0.1:<adminPort>`: the instance's admin port (ADMIN_PORT), where backends push. */
  readonly adminUrl: string;
  /** `127.0.0.1:<adminPort>`, as written into nginx's admin upstream. */
  readonly adminAddress: string;
  /** Connected STOMP sessions of `user` on this instance (the ground truth for "where is the page"). */
  sessionsOf(user: string): number;
  /** Graceful: ERROR SHUTTING_DOWN to every session, then the broker and listener close. */
  close(): Promise<void>;
  /**
   * Every TCP socket of the instance (HTTP, WebSocket, SockJS streams) is destroyed at once, as a
   * network blip would end them, but the instance keeps running (its broker, and what it holds,
   * survive): clients reconnect to it.
   */
  dropConnections(): void;
  /**
   * Hard stop: the listener closes and every TCP socket (HTTP, WebSocket, SockJS streams) is
   * destroyed at once, without a STOMP ERROR or WebSocket close frame. The broker side is then shut
   * too, so nothing of this instance is left behind.
   */
  kill(): Promise<void>;
}

export interface RelayCluster {
  readonly instances: readonly [RelayInstance, RelayInstance];
  readonly gateway: NginxGateway;
  /** The instance that is not `id`. */
  other(id: string): RelayInstance;
  byId(id: string): RelayInstance;
  /** Stops nginx and both relays (those still running). Never throws. */
  stop(): Promise<void>;
}


/** Where a relay finds RabbitMQ (RabbitNode.relayOptions); no `brokerUrl`: the embedded broker. */
export interface BrokerOptions { brokerUrl?: string; brokerAmqpUrl?: string }

/**
 * Starts one relay on `brokerUrl`, listening on ephemeral ports on 127.0.0.1: the public one and,
 * as in production (docker-compose.yml), an admin port for the HTTP API.
 */
export async function startRelayInstance(broker: BrokerOptions, id: string, options: CreateRelayOptions = {}): Promise<RelayInstance> {
  const relay = createRelay({ ...broker, brokerPoolSize: 1, instanceId: id, shutdownGraceMs: 2000, adminPort: 0, logger: silentLogger(), ...options });
  const sockets = new Set<Socket>();
  let address;
  try {
    address = await relay.listen(0, '127.0.0.1');
  } catch (err) {
    await relay.close().catch(() => undefined);
    throw err;
  }
  const server = relay.server!;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let killed = false;
  const adminPort = (relay.adminServer!.address() as AddressInfo).port;
  return {
    id,
    relay,
    url: `http://127.0.0.1:${address.port}`,
    address: `127.0.0.1:${address.port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    adminAddress: `127.0.0.1:${adminPort}`,
    sessionsOf: (user) => relay.hub.sessionsOfUser(user).length,
    close: () => (killed ? relay.close().catch(() => undefined) : relay.close()),
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async kill() {
      killed = true;
      server.close();
      relay.adminServer?.close();
      for (const socket of sockets) socket.destroy();
      // What is left (broker connections, timers) is shut after the fact; the clients are gone already.
      await relay.close().catch(() => undefined);
    },
  };
}

/** Starts relays `ids[0]` and `ids[1]` on `brokerUrl` and nginx in front of them. */
export async function startRelayCluster(broker: BrokerOptions, ids: [string, string]): Promise<RelayCluster> {
  const started: RelayInstance[] = [];
  let gateway: NginxGateway | undefined;
  const stop = async (): Promise<void> => {
    await gateway?.stop().catch(() => undefined);
    await Promise.all(started.map((r) => r.close().catch(() => undefined)));
  };
  try {
    for (const id of ids) started.push(await startRelayInstance(broker, id));
    gateway = await startNginx({ upstreams: started.map((r) => r.address), adminUpstreams: started.map((r) => r.adminAddress) });
  } catch (err) {
    await stop();
    throw err;
  }
  const instances = started as unknown as [RelayInstance, RelayInstance];
  const byId = (id: string): RelayInstance => {
    const found = instances.find((r) => r.id === id);
    if (!found) throw new Error(`no relay instance "${id}" (have ${instances.map((r) => r.id).join(', ')})`);
    return found;
  };
  return {
    instances,
    gateway: gateway!,
    byId,
    other: (id) => instances.find((r) => r.id !== byId(id).id)!,
    stop,
  };
}

/** One relay process of {@link startRelayProcessCluster}. */
export interface RelayProcessInstance {
  readonly id: string;
  readonly process: RelayProcess;
  /** `http://127.0.0.1:<port>`, the instance itself, bypassing nginx. */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/ws`, bypassing nginx. */
  readonly wsUrl: string;
  /** `http://127.0.0.1:<adminPort>`: where backends push (ADMIN_PORT). */
  readonly adminUrl: string;
  /** What nginx's public upstreams reach this instance through: `door.refuse(true)` makes nginx pick the other. */
  readonly door: TcpProxy;
  /** SIGKILL: the process dies at once (the kernel closes its sockets); resolves once it is gone. */
  kill(): Promise<void>;
}

export interface RelayProcessCluster {
  readonly instances: readonly [RelayProcessInstance, RelayProcessInstance];
  readonly gateway: NginxGateway;
  /** Stops nginx, the doors and the relays still running. Never throws. */
  stop(): Promise<void>;
}

/**
 * Starts relays `ids[0]` and `ids[1]` as processes (bench/lib/relay-process.ts: the CLI with
 * environment variables, `env` added) on `broker`, each with an admin port, and nginx in front of
 * them, each behind its door.
 */
export async function startRelayProcessCluster(broker: BrokerOptions, ids: [string, string], env: Record<string, string> = {}): Promise<RelayProcessCluster> {
  const started: RelayProcessInstance[] = [];
  let gateway: NginxGateway | undefined;
  const stop = async (): Promise<void> => {
    await gateway?.stop().catch(() => undefined);
    await Promise.all(started.map(async (r) => {
      await r.door.close().catch(() => undefined);
      await r.process.stop().catch(() => undefined);
    }));
  };
  try {
    for (const id of ids) {
      const adminPort = await freePort();
      const child = await startRelayProcess({ ...broker, instanceId: id, env: { ADMIN_PORT: String(adminPort), BROKER_POOL_SIZE: '1', ...env } });
      let door: TcpProxy;
      try {
        door = await TcpProxy.start({ host: '127.0.0.1', port: child.port });
      } catch (err) {
        await child.stop();
        throw err;
      }
      started.push({
        id,
        process: child,
        url: child.httpUrl,
        wsUrl: child.wsUrl,
        adminUrl: `http://127.0.0.1:${adminPort}`,
        door,
        kill: async () => {
          child.kill();
          await child.stop(); // after SIGKILL: only waits for the exit
        },
      });
    }
    gateway = await startNginx({
      upstreams: started.map((r) => `127.0.0.1:${r.door.port}`),
      adminUpstreams: started.map((r) => new URL(r.adminUrl).host),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { instances: started as unknown as [RelayProcessInstance, RelayProcessInstance], gateway: gateway!, stop };
}
