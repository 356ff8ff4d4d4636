/** The STOMP codec: frames to bytes and back. No sockets, no brokers. */
export * from './frame';
export { StompParser, type ParserHandler } from './parser';
export { encodeFrame, createMessageTemplate, renderMessage, HEARTBEAT_EOL, type MessageTemplate } from './serializer';
