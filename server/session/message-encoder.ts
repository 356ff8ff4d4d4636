/**
 * Encodes each broker message once per STOMP version, however many sessions receive it.
 *
 * The broker hands one {@link Delivery} (and one {@link BrokerMessage}) to every local subscriber of a
 * topic. The first session to deliver it builds a {@link MessageTemplate} (command, shared headers,
 * body, all encoded); every other session renders only its own headers (`destination`,
 * `subscription`, `ack`) around it. The cache is a WeakMap keyed by the message object, so it holds
 * nothing once the broker and the sessions let go of the message.
 */
import type { BrokerMessage } from '../broker/broker';
import type { StompHeaders, StompVersion } from '../codec/frame';
import { createMessageTemplate, type MessageTemplate } from '../codec/serializer';

export type CreateTemplate = typeof createMessageTemplate;

/**
 * Headers the session sets per receiver, or that a MESSAGE must not inherit from the publisher.
 * Stripped from the shared part so a client cannot spoof them and renderMessage keeps its fast path.
 */
const PER_RECEIVER = new Set(['destination', 'subscription', 'ack', 'message-id', 'content-length', 'receipt', 'transaction']);

export class MessageEncoder {
  private readonly cache = new WeakMap<BrokerMessage, Partial<Record<StompVersion, MessageTemplate>>>();

  /** `createTemplate` is replaceable so tests can count how often a fan-out encodes. */
  constructor(private readonly createTemplate: CreateTemplate = createMessageTemplate) {}

  /** The template of `message` for `version`, built on first use. */
  template(message: BrokerMessage, version: StompVersion): MessageTemplate {
    let byVersion = this.cache.get(message);
    if (byVersion === undefined) {
      byVersion = {};
      this.cache.set(message, byVersion);
    }
    let template = byVersion[version];
    if (template === undefined) {
      template = this.createTemplate(sharedHeadersOf(message), message.body, version);
      byVersion[version] = template;
    }
    return template;
  }
}

/** Prefix of headers internal to the relay (e.g. sendToSession's target). */
export const INTERNAL_HEADER_PREFIX = 'x-stomp-relay-';

function sharedHeadersOf(message: BrokerMessage): StompHeaders {
  const shared: StompHeaders = Object.create(null);
  const source = message.headers;
  for (const name of Object.keys(source)) {
    // Headers the relay uses between its instances (`x-stomp-relay-*`) never reach clients.
    if (!PER_RECEIVER.has(name) && !name.startsWith(INTERNAL_HEADER_PREFIX)) shared[name] = source[name];
  }
  shared['message-id'] = message.messageId;
  return shared;
}
