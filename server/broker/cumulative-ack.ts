/**
 * The one walk behind STOMP's `client` ack mode (STOMP 1.2 §SUBSCRIBE `ack` header): an ACK or NACK
 * of one delivery settles it and every earlier unsettled one. Used by the session's subscription
 * table (client ack keys), the embedded queue consumer and the RabbitMQ consumer (engine ack ids),
 * each on a Map whose insertion order is delivery order.
 */

/**
 * Removes what settling `key` settles from `unacked` and hands each removed entry to `settled`,
 * oldest first: with `cumulative`, every entry up to and including `key`; otherwise `key` alone.
 * Returns false (and settles nothing) when `key` is not in `unacked`.
 */
export function settleUpTo<K, V>(unacked: Map<K, V>, key: K, cumulative: boolean, settled: (value: V, key: K) => void): boolean {
  const target = unacked.get(key);
  if (target === undefined && !unacked.has(key)) return false;
  if (!cumulative) {
    unacked.delete(key);
    settled(target as V, key);
    return true;
  }
  for (const [id, value] of unacked) {
    unacked.delete(id); // deleting the visited entry is safe while iterating a Map
    settled(value, id);
    if (id === key) break;
  }
  return true;
}
