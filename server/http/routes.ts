/**
 * The relay's public HTTP routes, as one express Router that a standalone server or a host
 * application mounts: health, readiness, instance info, the browser client and the demo page
 * (the admin routes, with the HTTP API and metrics, are in admin-routes.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Router } from 'express';
import type { Broker } from '../broker/broker';
import { PACKAGE_ROOT } from '../package-info';
import { Errors, relayError } from '../errors';
import { clientFiles } from './client-files';
import { sendError } from './errors';

export interface RouteDeps {
  broker: Broker;
  instanceId: string;
  /** False once shutdown began: /readyz turns 503 so load balancers stop sending new clients. */
  isAccepting(): boolean;
  /** Instances known to be up, this one included (presence). */
  knownInstances(): number;
  /** Whether to serve the demo page at `/` (a host application may have its own). */
  serveDemo: boolean;
}

export function createRoutes(deps: RouteDeps): Router {
  const router = express.Router();

  // Liveness: the process answers. Never depends on the broker (restarting us would not fix it).
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', instanceId: deps.instanceId });
  });

  // Readiness: can this instance serve a new client right now?
  router.get('/readyz', (_req, res) => {
    const broker = deps.broker.ready;
    const accepting = deps.isAccepting();
    const ready = broker && accepting;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      broker: { kind: deps.broker.kind, ready: broker },
      accepting,
      instanceId: deps.instanceId,
    });
  });

  // Which instance answered, on which broker, among how many (presence): the demo page says how to
  // see the multi-instance story when there is only one.
  router.get('/instance', (_req, res) => {
    res.json({ instanceId: deps.instanceId, broker: deps.broker.kind, instances: deps.knownInstances() });
  });

  // A plain request to the WebSocket endpoint (a browser tab, curl): say what it is instead of 404.
  router.get('/ws', (req, res) => {
    sendError(res, relayError(Errors.UPGRADE_REQUIRED, req.path));
  });

  // Browser client library (built by client/build.mjs) and sockjs-client for SockJS's iframe
  // transports, loadable from any origin.
  router.use('/client', clientFiles(join(PACKAGE_ROOT, 'dist', 'client')));

  const demoDir = join(PACKAGE_ROOT, 'client', 'demo');
  if (deps.serveDemo && existsSync(demoDir)) router.use('/', express.static(demoDir, { index: 'index.html' }));

  return router;
}
