/**
 * Translation between the STOMP headers the relay speaks and AMQP 0-9-1 message properties, the way
 * RabbitMQ's STOMP plugin does it (rabbit_stomp_util `message_properties` / `message_headers`), so a
 * message published over STOMP and consumed here over AMQP (or the reverse) shows a client the same
 * headers as if the plugin had delivered it.
 *
 * - `content-type`, `content-encoding`, `priority`, `correlation-id`, `reply-to`, `expiration`, and
 *   `amqp-message-id` map to the AMQP properties of the same meaning; `persistent:true` to
 *   delivery mode 2.
 * - Every other header travels in the AMQP headers table as a string, and comes back as one (numbers
 *   from AMQP publishers are shown in decimal, other table types are left out, as the plugin does).
 * - `destination` is rebuilt from exchange and routing key (`/topic/k` for `amq.topic`,
 *   `/exchange/e/k` otherwise), percent-escaping `/` and `%` as the plugin does.
 */
import type { Options } from 'amqplib';
import type { StompHeaders } from '../../../codec/frame';
import { isWholeNumber } from '../../header-values';
import { CONNECTION_MESSAGE_HEADERS } from '../subscription-headers';

/** STOMP headers that are AMQP properties; the rest go into the headers table. */
const PROPERTY_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-encoding',
  'persistent',
  'priority',
  'correlation-id',
  'reply-to',
  'expiration',
  'amqp-message-id',
  'destination',
]);

/** Publish options for a message with these STOMP headers (`extra` merged into the headers table). */
export function publishOptions(headers: StompHeaders, extra?: Record<string, string>): Options.Publish {
  const table: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (!PROPERTY_HEADERS.has(name)) table[name] = headers[name];
  }
  if (extra !== undefined) Object.assign(table, extra);
  const options: Options.Publish = { headers: table };
  const h = headers;
  if (h['content-type'] !== undefined) options.contentType = h['content-type'];
  if (h['content-encoding'] !== undefined) options.contentEncoding = h['content-encoding'];
  if (h.persistent !== undefined && h.persistent.toLowerCase() === 'true') options.deliveryMode = 2;
  if (h.priority !== undefined && isWholeNumber(h.priority, 255)) options.priority = Number(h.priority);
  if (h['correlation-id'] !== undefined) options.correlationId = h['correlation-id'];
  if (h['reply-to'] !== undefined) options.replyTo = h['reply-to'];
  if (h.expiration !== undefined) options.expiration = h.expiration;
  if (h['amqp-message-id'] !== undefined) options.messageId = h['amqp-message-id'];
  return options;
}

/** What an AMQP delivery carries that the translation reads (amqplib's ConsumeMessage has it all). */
export interface AmqpDelivery {
  fields: { exchange: string; routingKey: string };
  properties: {
    contentType?: unknown;
    contentEncoding?: unknown;
    headers?: Record<string, unknown>;
    deliveryMode?: unknown;
    priority?: unknown;
    correlationId?: unknown;
    replyTo?: unknown;
    expiration?: unknown;
    messageId?: unknown;
  };
}

/** The STOMP headers a client is shown for an AMQP delivery (without `destination`: see {@link stompDestination}). */
export function messageHeaders(delivery: AmqpDelivery): StompHeaders {
  const out: StompHeaders = Object.create(null);
  const table = delivery.properties.headers;
  if (table !== undefined && table !== null) {
    for (const name of Object.keys(table)) {
      if (CONNECTION_MESSAGE_HEADERS.has(name)) continue;
      const value = table[name];
      if (typeof value === 'string') out[name] = value;
      else if (typeof value === 'number' && Number.isInteger(value)) out[name] = String(value);
      else if (Buffer.isBuffer(value)) out[name] = value.toString('utf8');
    }
  }
  const p = delivery.properties;
  setString(out, 'content-type', p.contentType);
  setString(out, 'content-encoding', p.contentEncoding);
  if (p.deliveryMode === 2) out.persistent = 'true';
  if (typeof p.priority === 'number') out.priority = String(p.priority);
  setString(out, 'correlation-id', p.correlationId);
  setString(out, 'reply-to', p.replyTo);
  setString(out, 'expiration', p.expiration);
  setString(out, 'amqp-message-id', p.messageId);
  return out;
}

/** The STOMP destination RabbitMQ's plugin reports for a message routed through `exchange` with `routingKey`. */
export function stompDestination(exchange: string, routingKey: string): string {
  if (exchange === '') return `/queue/${escapeName(routingKey)}`;
  if (exchange === 'amq.topic') return `/topic/${escapeName(routingKey)}`;
  if (routingKey === '') return `/exchange/${escapeName(exchange)}`;
  return `/exchange/${escapeName(exchange)}/${escapeName(routingKey)}`;
}

/** The plugin's destination escaping: `/` → `%2F`, `%` → `%25`, control and non-ASCII bytes → `%XX`. */
function escapeName(name: string): string {
  let plain = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2f || c === 0x25 || c < 32 || c > 127) {
      plain = false;
      break;
    }
  }
  if (plain) return name;
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    if (byte === 0x2f || byte === 0x25 || byte < 32 || byte > 127) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(byte);
  }
  return out;
}

function setString(out: StompHeaders, name: string, value: unknown): void {
  if (typeof value === 'string') out[name] = value;
}
