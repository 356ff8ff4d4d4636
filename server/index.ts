/**
 * stomp-relay's public API, for embedding the relay in an express application.
 *
 * ```ts
 * import { createRelay } from 'stomp-relay';
 * const relay = createRelay({ brokerUrl: process.env.BROKER_URL });
 * app.use(relay.router);
 * const server = app.listen(8080);
 * relay.attach(server);
 * await relay.start();
 * ```
 */
export { createRelay, Relay, PATHS, type CreateRelayOptions } from './relay';
export type { Authenticator, Principal, AuthRequest } from './auth/authenticator';
export { DevLoginAuthenticator } from './auth/dev-login-authenticator';
export { JwtAuthenticator } from './auth/jwt-authenticator';
export { remoteJwks, type JwtOptions } from './auth/jwt';
export type { Authorize, AuthorizationRequest, AuthorizedCommand } from './auth/authorization';
export { PassportAuthenticator, type PassportAuthenticatorOptions, type HandshakeMiddleware } from './auth/passport-authenticator';
export type { PushAuthStrategy } from './http/push';
export type { ApiAuthStrategy, ApiScope } from './http/api-auth';
export { AppError } from './application/message-handlers';
export type {
  AppHandler,
  AppMessage,
  AppContext,
  HandlerOptions,
  AppErrorReport,
  AppSubscribeHandler,
  AppSubscription,
} from './application/message-handlers';
export type { Payload, SendToUserOptions, SendResult, AnonymousSendResult } from './user/user-messaging';
export type {
  RelaySessionEvents,
  RelaySessionEventName,
  SessionEventListener,
  SessionInfo,
  SubscriptionInfo,
  UnsubscribeReason,
} from './session/session-events';
export type { UserPresence } from './user/presence';
export {
  resolveConfig,
  configFromEnv,
  parseBrokerUrl,
  parseBrokerUrls,
  parseAmqpUrls,
  deriveAmqpEndpoints,
  brokerAmqpEndpoints,
  DEFAULT_CONFIG,
  ENV_VARS,
} from './config';
export type { RelayConfig, RelayOptions, SessionLimits, HeartbeatConfig, BrokerEndpoint, AmqpEndpoint, AuthMode, EnvVar } from './config';
export { Errors, RelayError, isRelayError, type ErrorCode, type ErrorDefinition } from './errors';
export type {
  Broker,
  BrokerKind,
  BrokerMessage,
  Delivery,
  DeliverySink,
  Consumer,
  SubscribeRequest,
  Subscriber,
  PublishRequest,
  PublishOptions,
  AckMode,
  AckOptions,
  NackOptions,
  CloseOptions,
  ReplyAddress,
} from './broker/broker';
export type { MessageHistory, Replay, RecordedMessage, HistoryOptions } from './broker/history';
export { RESUME_TOKEN_HEADER, RESUME_FROM_HEADER, RESUME_GAP_HEADER } from './broker/history';
export type { StompFrame, StompHeaders, StompVersion } from './codec/frame';
export type { Transport, TransportKind, TransportEvents, HandshakeInfo } from './transport/transport';
export type { DestinationParams } from './destination-pattern';
export { RelayMetrics } from './observability/metrics';
export { createLogger, silentLogger, type Logger } from './observability/logger';
