/**
 * A JSON route of the HTTP API that takes a body (`POST /push/:user`, `POST /push`, `POST /publish`),
 * defined once as a plain function of its parameters and parsed body, and served two ways from
 * that one definition: by express ({@link mountJsonRoute}, in `relay.router` / `relay.adminRouter`)
 * and straight from node's `request` event where the relay owns the server (direct-routes.ts). Both
 * run the same authentication middleware, the same body reader and the same answer.
 */
import type { Router } from 'express';
import type { ApiAuth, ApiScope } from './api-auth';
import { jsonBody, readMessageBody, sendJson, type MessageBody } from './message-body';

/** What a {@link JsonRoute} answers on success; failures are thrown (RelayError, with its status). */
export interface JsonAnswer {
  status: number;
  body: unknown;
}

/** One body-taking route of the HTTP API, independent of the framework serving it. */
export interface JsonRoute {
  /** The express path template: literal segments and `:name` parameters (also the metrics route label). */
  readonly path: string;
  /** Scopes any one of which lets a caller in (api-auth.ts). */
  readonly scopes: readonly ApiScope[];
  /** The answer for decoded path parameters and the parsed JSON body. */
  answer(params: Readonly<Record<string, string>>, body: unknown): Promise<JsonAnswer>;
}

/** Serves `route` on `router` as `POST route.path`: authentication, body, answer; errors to the error middleware. */
export function mountJsonRoute(router: Router, route: JsonRoute, auth: ApiAuth, maxBodyBytes: number): void {
  router.post(route.path, auth(...route.scopes), jsonBody(maxBodyBytes), async (req, res, next) => {
    try {
      const { status, body } = await route.answer(req.params as Record<string, string>, req.body);
      sendJson(res, status, body);
    } catch (err) {
      next(err);
    }
  });
}

/**
 * A route whose body is one message (`POST /push/:user`, `POST /publish`): the body read by
 * {@link readMessageBody} (`destinationExample` in its 400 texts), handed to `send`, whose result
 * is the 202 answer.
 */
export function messageRoute(
  path: string,
  scopes: readonly ApiScope[],
  destinationExample: string,
  send: (params: Readonly<Record<string, string>>, message: MessageBody) => Promise<unknown>,
): JsonRoute {
  return {
    path,
    scopes,
    async answer(params, body) {
      return { status: 202, body: await send(params, readMessageBody(body, destinationExample)) };
    },
  };
}
