/**
 * AMQP 0-9-1 topic matching, as RabbitMQ's `amq.topic` applies it: a routing key and a binding
 * pattern are dot-separated words; `*` in the pattern stands for exactly one word, `#` for zero or
 * more. The per-instance route queue receives one copy of a message however many of its bindings
 * match, so the relay must find, locally, every subscription whose pattern matches the key.
 */

/** True when the pattern has a wildcard word, so it needs {@link topicMatches} rather than equality. */
export function isWildcardPattern(pattern: string): boolean {
  return pattern.split('.').some((word) => word === '*' || word === '#');
}

/** Whether `routingKey` matches binding `pattern` under RabbitMQ's topic rules. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  return matchWords(pattern.split('.'), 0, routingKey.split('.'), 0);
}

function matchWords(pattern: string[], p: number, key: string[], k: number): boolean {
  while (p < pattern.length) {
    const word = pattern[p];
    if (word === '#') {
      // Collapse runs of '#': they match what one does.
      while (p + 1 < pattern.length && pattern[p + 1] === '#') p++;
      if (p === pattern.length - 1) return true;
      for (let skip = k; skip <= key.length; skip++) {
        if (matchWords(pattern, p + 1, key, skip)) return true;
      }
      return false;
    }
    if (k >= key.length) return false;
    if (word !== '*' && word !== key[k]) return false;
    p++;
    k++;
  }
  return k === key.length;
}
