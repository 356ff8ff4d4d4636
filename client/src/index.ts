/**
 * stomp-relay browser client: server push over STOMP (WebSocket or SockJS) from a stomp-relay
 * server, with reconnects, resubscription and token refresh.
 *
 * Served by the relay at `/client/stomp-relay-client.js` (ES module):
 * ```html
 * <script type="module">
 *   import { createRelayClient } from '/client/stomp-relay-client.js';
 * </script>
 * ```
 * @packageDocumentation
 */
export { createRelayClient } from './relay-client';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff';
export type {
  ConnectionState,
  DisconnectReason,
  RelayClient,
  RelayClientOptions,
  RelayErrorFrame,
  RelayMessage,
  RelaySubscription,
  RelayTransport,
  ResumeGap,
  ResumeResult,
  ServerInfo,
  SubscribeOptions,
  TokenSource,
} from './types';
