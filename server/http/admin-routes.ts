/**
 * The relay's admin routes, as one express Router: the HTTP API for backends (`/push/:user`,
 * `/push`, `/publish`, `/users`, `/users/:user`, `/users/:user/sessions`), `/metrics` and `/openapi.json`. With
 * ADMIN_PORT they are served only on that port; otherwise next to the public routes (routes.ts).
 */
import express, { type Router } from 'express';
import type { RelayMetrics } from '../observability/metrics';
import type { ClusterPresence } from '../user/presence';
import type { SessionControl } from '../user/session-control';
import type { UserMessaging } from '../user/user-messaging';
import { PACKAGE_VERSION } from '../package-info';
import type { ApiAuth } from './api-auth';
import { openApiDocument } from './openapi';
import { mountJsonRoute, type JsonRoute } from './json-route';
import { publishRoute, type Publish } from './publish';
import { pushManyRoute } from './push-many';
import { pushRoute } from './push';
import { createUserRoutes } from './users';

export interface AdminRouteDeps {
  messaging: UserMessaging;
  presence: ClusterPresence;
  control: SessionControl;
  publish: Publish;
  metrics: RelayMetrics;
  auth: ApiAuth;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
  /** Most users one `POST /push` may name. */
  pushMaxUsers: number;
}

/**
 * The body-taking routes of the HTTP API (`POST /push/:user`, `POST /push`, `POST /publish`), in
 * the order express matches them: mounted by {@link createAdminRoutes}, and answered without
 * express by direct-routes.ts where the relay owns the server.
 */
export function adminJsonRoutes(deps: Pick<AdminRouteDeps, 'messaging' | 'publish' | 'pushMaxUsers'>): JsonRoute[] {
  return [pushRoute(deps.messaging), pushManyRoute(deps.messaging, deps.pushMaxUsers), publishRoute(deps.publish)];
}

export function createAdminRoutes(deps: AdminRouteDeps): Router {
  const router = express.Router();
  const { auth, maxBodyBytes } = deps;
  for (const route of adminJsonRoutes(deps)) mountJsonRoute(router, route, auth, maxBodyBytes);
  router.use(createUserRoutes({ presence: deps.presence, control: deps.control, auth, maxBodyBytes }));

  const openapi = JSON.stringify(openApiDocument({ version: PACKAGE_VERSION, pushMaxUsers: deps.pushMaxUsers, maxBodyBytes }));
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });

  router.get('/metrics', async (_req, res, next) => {
    try {
      res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  return router;
}
