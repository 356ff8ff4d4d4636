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

  // In front of both WeakMaps, the entry used last: a fan-out asks for the same message and layout
  // once per receiver in a row, and a field comparison is cheaper than a WeakMap lookup (two per
  // delivery were ~2 % of the relay's CPU at 200 subscribers). Holds one message until the next.
  private lastMessage: BrokerMessage | undefined = undefined;
  private lastVersion: StompVersion | undefined = undefined;
  private lastTemplate: MessageTemplate | undefined = undefined;
  private lastRenderedTemplate: MessageTemplate | undefined = undefined;
  private lastRendered: { subscription: string; destination: string; bytes: Buffer } | undefined = undefined;

  /** `createTemplate` is replaceable so tests can count how often a fan-out encodes. */
  constructor(private readonly createTemplate: CreateTemplate = createMessageTemplate) {}

  /** The template of `message` for `version`, built on first use. */
  template(message: BrokerMessage, version: StompVersion): MessageTemplate {
    if (message === this.lastMessage && version === this.lastVersion) return this.lastTemplate!;
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
    this.lastMessage = message;
    this.lastVersion = version;
    this.lastTemplate = template;
    return template;
  }

  /**
   * The whole MESSAGE for a receiver whose own headers are only `subscription` and `destination` (an
   * `auto` subscription): the bytes of the previous receiver when those two match, so a fan-out to
   * clients that all call their subscription `sub-0` (stomp.js does) renders one buffer for all of
   * them. Buffers are never written after rendering, so transports may share them.
   */
  renderFor(template: MessageTemplate, subscription: string, destination: string): Buffer {
    const last = template === this.lastRenderedTemplate ? this.lastRendered : this.lastRender.get(template);
    if (last !== undefined && last.subscription === subscription && last.destination === destination) return last.bytes;
    const rendered = { subscription, destination, bytes: renderMessage(template, { subscription, destination }) };
    this.lastRender.set(template, rendered);
    this.lastRenderedTemplate = template;
    this.lastRendered = rendered;
    return rendered.bytes;
  }
}

function sharedHeadersOf(message: BrokerMessage): StompHeaders {
  // Per-receiver and relay-internal headers are not part of the shared encoding (header-policy.ts).
  const shared = headersExcept(message.headers, NOT_CARRIED_HEADERS);
  shared['message-id'] = message.messageId;
  return shared;
}
