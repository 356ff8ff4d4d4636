/**
 * The OpenAPI 3.1 description of every HTTP route of the relay, served at `GET /openapi.json`.
 * Written by hand next to the routes; test/integration/server/openapi.test.ts checks it against
 * the router (every route documented, every documented operation answering), so the two cannot
 * drift apart unnoticed. Each operation carries one tag, `public` or `admin`: the port that serves
 * it when ADMIN_PORT is set.
 */
import { USERS_PAGE, MAX_REASON_CHARS, DEFAULT_REVOKE_REASON } from './users';
import { PUSH_CONCURRENCY } from './push-many';

export interface OpenApiOptions {
  version: string;
  /** PUSH_MAX_USERS. */
  pushMaxUsers: number;
  /** MAX_FRAME_BYTES: the largest request body. */
  maxBodyBytes: number;
}

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const error = (description: string): Json => json(ref('Error'), description);
const userParam: Json = {
  name: 'user',
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1 },
  example: 'alice',
  description: 'User name (the `sub` of their JWT, or their dev-mode login)',
};

/** Answers every API route can give besides its own. */
function apiErrors(extra: Record<string, Json> = {}): Record<string, Json> {
  return {
    400: error('BAD_REQUEST: malformed JSON, or a field of the wrong shape (named in the message)'),
    401: error('UNAUTHORIZED: no bearer token, or an invalid or expired one'),
    403: error('FORBIDDEN: the token lacks the scope'),
    ...extra,
  };
}

const messageProperties: Json = {
  destination: { type: 'string', description: 'A destination under a relayed prefix', examples: ['/queue/notifications'] },
  payload: { description: 'A string is sent as text/plain; anything else as JSON (application/json)' },
  headers: {
    type: 'object',
    additionalProperties: { type: ['string', 'number', 'boolean'] },
    description: 'Application headers of the MESSAGE; protocol and relay headers (message-id, x-relay-sender…) are refused',
  },
};

export function openApiDocument(options: OpenApiOptions): Json {
  const bearer = (...scopes: string[]) => [{ bearerJwt: scopes }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'stomp-relay',
      version: options.version,
      description:
        'HTTP routes of a stomp-relay instance. Operations tagged `admin` are served only on ADMIN_PORT when it is set (the public port answers 404 for them); `public` ones only on PORT. ' +
        "With AUTH_JWT_SECRET unset (dev mode) no token is checked. `sessions`/`instances` in answers are presence (eventually consistent), `routed` is the broker's answer. See docs/http-api.md.",
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'public', description: 'Served on PORT: browsers, load balancers' },
      { name: 'admin', description: 'Served on ADMIN_PORT when set (else on PORT): backends, Prometheus' },
    ],
    paths: {
      '/healthz': {
        get: {
          operationId: 'health',
          tags: ['public'],
          summary: 'Liveness: the process answers (never depends on the broker)',
          responses: { 200: json(ref('Health'), 'Alive') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readiness',
          tags: ['public'],
          summary: 'Readiness: the broker is ready and the instance takes new sessions',
          responses: {
            200: json(ref('Readiness'), 'Ready'),
            503: json(ref('Readiness'), 'Not ready: broker unreachable, or shutting down'),
          },
        },
      },
      '/instance': {
        get: {
          operationId: 'instance',
          tags: ['public'],
          summary: 'Which instance answered, on which broker, among how many',
          responses: {
            200: json(
              {
                type: 'object',
                required: ['instanceId', 'broker', 'instances'],
                properties: {
                  instanceId: { type: 'string' },
                  broker: { enum: ['memory', 'rabbitmq'] },
                  instances: { type: 'integer', minimum: 1, description: 'Instances this one knows to be up (presence), itself included' },
                },
              },
              'This instance',
            ),
          },
        },
      },
      '/client/{file}': {
        get: {
          operationId: 'clientFile',
          tags: ['public'],
          summary: 'The browser client library and sockjs-client',
          parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' }, example: 'stomp-relay-client.js' }],
          responses: { 200: { description: 'The file' }, 404: error('NOT_FOUND: no such file') },
        },
      },
      '/': {
        get: {
          operationId: 'demoPage',
          tags: ['public'],
          summary: 'The demo page (unless serveDemo: false)',
          responses: { 200: { description: 'HTML', content: { 'text/html': {} } } },
        },
      },
      '/ws': {
        get: {
          operationId: 'stompWebSocket',
          tags: ['public'],
          summary: 'STOMP 1.0-1.2 over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp)',
          description:
            'A WebSocket handshake (Upgrade: websocket). The JWT may come as ?access_token=, in the handshake Authorization header, or in CONNECT. See docs/protocol.md.',
          parameters: [{ name: 'access_token', in: 'query', required: false, schema: { type: 'string' } }],
          responses: {
            101: { description: 'Switching Protocols: STOMP follows' },
            403: { description: 'Origin not allowed' },
            426: error('UPGRADE_REQUIRED: a plain HTTP request'),
          },
        },
      },
      '/sockjs/info': {
        get: {
          operationId: 'sockjsInfo',
          tags: ['public'],
          summary: 'SockJS endpoint (STOMP over SockJS): its info request',
          description: 'The SockJS protocol lives under /sockjs (/sockjs/info, /sockjs/{server}/{session}/{transport}); use sockjs-client.',
          responses: { 200: { description: 'SockJS info', content: { 'application/json': {} } }, 403: error('ORIGIN_NOT_ALLOWED') },
        },
      },

      '/push/{user}': {
        post: {
          operationId: 'pushToUser',
          tags: ['admin'],
          summary: 'Send to every session of one user, on any instance (Spring convertAndSendToUser)',
          description: "Delivered to the user's subscriptions on /user + destination (e.g. /user/queue/notifications).",
          security: bearer('push'),
          parameters: [userParam],
          requestBody: { required: true, content: { 'application/json': { schema: ref('Message') } } },
          responses: {
            202: json(ref('PushResult'), "Routed to the user's subscriptions (routed: true), or the user is offline (routed: false)"),
            ...apiErrors({
              413: error(`PAYLOAD_TOO_LARGE: body over ${options.maxBodyBytes} bytes`),
              503: error('NOT_DELIVERED (online, but nothing took it within USER_ROUTE_WAIT_MS) or BROKER_UNAVAILABLE'),
            }),
          },
        },
      },
      '/push': {
        post: {
          operationId: 'pushToUsers',
          tags: ['admin'],
          summary: 'Send one payload to many users',
          description: `At most ${options.pushMaxUsers} distinct users (PUSH_MAX_USERS); sent ${PUSH_CONCURRENCY} at a time. 202 whenever the request is valid: check \`failed\`.`,
          security: bearer('push'),
          requestBody: { required: true, content: { 'application/json': { schema: ref('PushManyRequest') } } },
          responses: {
            202: json(ref('PushManyResult'), 'One result per distinct user, in request order'),
            ...apiErrors({ 413: error(`TOO_MANY_USERS (over ${options.pushMaxUsers} users) or PAYLOAD_TOO_LARGE`) }),
          },
        },
      },
      '/publish': {
        post: {
          operationId: 'publish',
          tags: ['admin'],
          summary: 'Publish to a broker destination (/topic/..., /queue/...) as a client SEND would',
          security: bearer('publish'),
          requestBody: { required: true, content: { 'application/json': { schema: ref('Message') } } },
          responses: {
            202: json(
              { type: 'object', properties: { destination: { type: 'string' } }, required: ['destination'] },
              'The broker confirmed it',
            ),
            ...apiErrors({
              403: error(
                'FORBIDDEN (scope), or DESTINATION_NOT_ALLOWED: not a relayed prefix, an internal destination or a temporary queue',
              ),
              413: error('PAYLOAD_TOO_LARGE'),
              503: error('BROKER_UNAVAILABLE'),
            }),
          },
        },
      },
      '/users': {
        get: {
          operationId: 'listUsers',
          tags: ['admin'],
          summary: 'Online users with their sessions per instance (presence), sorted by name, a page at a time',
          security: bearer('admin'),
          parameters: [
            {
              name: 'limit',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 1, maximum: USERS_PAGE.maxLimit, default: USERS_PAGE.defaultLimit },
            },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: 'nextCursor of the previous page' },
          ],
          responses: { 200: json(ref('UsersPage'), 'One page'), ...apiErrors() },
        },
      },
      '/users/{user}': {
        get: {
          operationId: 'getUser',
          tags: ['admin'],
          summary: "One user's sessions per instance (presence)",
          security: [{ bearerJwt: ['push'] }, { bearerJwt: ['admin'] }],
          parameters: [userParam],
          responses: { 200: json(ref('Presence'), 'What presence knows (sessions: 0 when offline)'), ...apiErrors() },
        },
      },
      '/users/{user}/sessions': {
        delete: {
          operationId: 'endUserSessions',
          tags: ['admin'],
          summary: 'End every session of a user on every instance (ERROR SESSION_REVOKED with the reason)',
          security: bearer('admin'),
          parameters: [userParam],
          requestBody: { required: false, content: { 'application/json': { schema: ref('RevokeRequest') } } },
          responses: {
            202: json(ref('RevokeResult'), 'Sent to every instance; this one ended its sessions'),
            ...apiErrors({ 503: error('BROKER_UNAVAILABLE: nothing was ended') }),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          tags: ['admin'],
          summary: 'Prometheus metrics (text exposition format)',
          responses: { 200: { description: 'Metrics', content: { 'text/plain': {} } } },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          tags: ['admin'],
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearerJwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A JWT checked as STOMP sessions check theirs (HS256 with AUTH_JWT_SECRET, or a key of AUTH_JWKS_URL; issuer, audience and exp when configured), whose `scope` (space-separated) or `scp` (array) names the scope listed on the operation: push, publish or admin (whole words).',
        },
      },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: ref('ErrorBody') } },
        ErrorBody: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', description: 'Stable code from the catalogue (docs/protocol.md)' },
            message: { type: 'string' },
          },
        },
        Message: { type: 'object', required: ['destination', 'payload'], properties: messageProperties },
        PushManyRequest: {
          type: 'object',
          required: ['users', 'destination', 'payload'],
          properties: {
            users: {
              type: 'array',
              items: { type: 'string', minLength: 1 },
              minItems: 1,
              maxItems: options.pushMaxUsers,
              description: 'Names listed twice are sent once',
            },
            ...messageProperties,
          },
        },
        InstanceSessions: {
          type: 'object',
          required: ['instanceId', 'sessions'],
          properties: { instanceId: { type: 'string' }, sessions: { type: 'integer' } },
        },
        Presence: {
          type: 'object',
          required: ['user', 'sessions', 'instances'],
          properties: {
            user: { type: 'string' },
            sessions: { type: 'integer', description: 'Presence: eventually consistent, not a receipt' },
            instances: { type: 'array', items: ref('InstanceSessions') },
          },
        },
        PushResult: {
          allOf: [
            ref('Presence'),
            {
              type: 'object',
              required: ['destination', 'routed'],
              properties: {
                destination: { type: 'string' },
                routed: {
                  type: 'boolean',
                  description: "The broker's answer: routed to every instance where the user subscribes to it; false = user offline",
                },
              },
            },
          ],
        },
        PushOutcome: {
          oneOf: [
            {
              type: 'object',
              required: ['user', 'routed', 'sessions', 'instances'],
              properties: {
                user: { type: 'string' },
                routed: { type: 'boolean' },
                sessions: { type: 'integer' },
                instances: { type: 'array', items: ref('InstanceSessions') },
              },
            },
            { type: 'object', required: ['user', 'error'], properties: { user: { type: 'string' }, error: ref('ErrorBody') } },
          ],
        },
        PushManyResult: {
          type: 'object',
          required: ['destination', 'routed', 'offline', 'failed', 'results'],
          properties: {
            destination: { type: 'string' },
            routed: { type: 'integer' },
            offline: { type: 'integer' },
            failed: { type: 'integer' },
            results: { type: 'array', items: ref('PushOutcome') },
          },
        },
        UsersPage: {
          type: 'object',
          required: ['users', 'nextCursor'],
          properties: {
            users: { type: 'array', items: ref('Presence') },
            nextCursor: { type: ['string', 'null'], description: 'null on the last page' },
          },
        },
        RevokeRequest: {
          type: 'object',
          properties: {
            reason: {
              type: 'string',
              minLength: 1,
              maxLength: MAX_REASON_CHARS,
              default: DEFAULT_REVOKE_REASON,
              description: 'One line; sent in the ERROR frame',
            },
          },
        },
        RevokeResult: {
          allOf: [ref('Presence'), { type: 'object', required: ['reason'], properties: { reason: { type: 'string' } } }],
          description: 'sessions/instances: presence just before the sessions were ended',
        },
        Health: {
          type: 'object',
          required: ['status', 'instanceId'],
          properties: { status: { const: 'ok' }, instanceId: { type: 'string' } },
        },
        Readiness: {
          type: 'object',
          required: ['status', 'broker', 'accepting', 'instanceId'],
          properties: {
            status: { enum: ['ready', 'not ready'] },
            broker: { type: 'object', properties: { kind: { enum: ['memory', 'rabbitmq'] }, ready: { type: 'boolean' } } },
            accepting: { type: 'boolean' },
            instanceId: { type: 'string' },
          },
        },
      },
    },
  };
}
