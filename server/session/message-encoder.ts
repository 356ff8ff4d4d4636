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
import { headersExcept, type StompHeaders, type StompVersion } from '../codec/frame';
import { createMessageTemplate, renderMessage, type MessageTemplate } from '../codec/serializer';
import { NOT_CARRIED_HEADERS } from './header-policy';

export type CreateTemplate = typeof createMessageTemplate;

export class MessageEncoder {
  private readonly cache = new WeakMap<BrokerMessage, Partial<Record<StompVersion, MessageTemplate>>>();

  /** The last receiver layout each template was rendered for, and the bytes (see {@link renderFor}). */
  private readonly lastRender = new WeakMap<MessageTemplate, { subscription: string; destination: string; bytes: Buffer }>();

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

  /**
   * The whole MESSAGE for a receiver whose own headers are only `subscription` and `destination` (an
   * `auto` subscription): the bytes of the previous receiver when those two match, so a fan-out to
   * clients that all call their subscription `sub-0` (stomp.js does) renders one buffer for all of
   * them. Buffers are never written after rendering, so transports may share them.
   */
  renderFor(template: MessageTemplate, subscription: string, destination: string): Buffer {
    const last = this.lastRender.get(template);
    if (last !== undefined && last.subscription === subscription && last.destination === destination) return last.bytes;
    const bytes = renderMessage(template, { subscription, destination });
    this.lastRender.set(template, { subscription, destination, bytes });
    return bytes;
  }
}

function sharedHeadersOf(message: BrokerMessage): StompHeaders {
  // Per-receiver and relay-internal headers are not part of the shared encoding (header-policy.ts).
  const shared = headersExcept(message.headers, NOT_CARRIED_HEADERS);
  shared['message-id'] = message.messageId;
  return shared;
}
