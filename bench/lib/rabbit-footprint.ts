/**
 * What a RabbitMQ node costs right now, for load scripts that compare it before and after: its
 * Erlang VM's memory after a full garbage collection of every process (the figure that does not
 * depend on when the VM last collected), its processes' resident memory (what the machine pays;
 * the VM's allocators keep freed memory, so this only grows), its queue and binding counts, and the
 * connections and channels clients hold on it (the relays' broker links).
 */
import type { RabbitNode } from '../../test/harness/rabbitmq';
import { rssBytesOfProcessesMatching } from './relay-process';

/** `erlang:memory/1` types reported, in this order. */
const MEMORY_TYPES = ['total', 'ets', 'processes', 'binary'] as const;

/** Erlang expression: collect every process, then the VM's memory in bytes, by {@link MEMORY_TYPES}. */
export const GC_THEN_MEMORY = 'lists:foreach(fun(P)->erlang:garbage_collect(P) end, processes()), ' +
  `[${MEMORY_TYPES.map((t) => `erlang:memory(${t})`).join(', ')}].`;

export interface RabbitFootprint {
  /** `erlang:memory(total)` after a full GC, bytes. */
  erlangMemoryBytes: number;
  /** Parts of it, same moment: ETS tables (bindings, routing), process heaps, off-heap binaries. */
  etsBytes: number;
  processesBytes: number;
  binaryBytes: number;
  /** Resident memory of the node's processes (Erlang VM and helpers), bytes. */
  rssBytes: number;
  queues: number;
  /** Bindings to queues, without the default exchange's implicit one per queue. */
  bindings: number;
  /** AMQP connections (`list_connections`) and STOMP connections (`list_stomp_connections`, which 3.10 lists apart). */
  amqpConnections: number;
  stompConnections: number;
  /** Channels of every connection. */
  channels: number;
}

/** Measures the node (a few rabbitmqctl calls; seconds with tens of thousands of bindings). */
export async function rabbitFootprint(node: RabbitNode): Promise<RabbitFootprint> {
  const [erlangMemoryBytes, etsBytes, processesBytes, binaryBytes] = parseErlangIntegers(await node.ctl(['eval', GC_THEN_MEMORY], 120_000), MEMORY_TYPES.length);
  const rssBytes = rssBytesOfProcessesMatching(node.dir);
  const queues = (await node.listQueues()).length;
  const bindings = (await node.listBindings()).length;
  const amqpConnections = countLines(await node.ctl(['list_connections', 'pid', '--quiet', '--no-table-headers']));
  const stompConnections = (await node.listConnections()).length;
  const channels = (await node.listChannels()).length;
  return {
    erlangMemoryBytes: erlangMemoryBytes!, etsBytes: etsBytes!, processesBytes: processesBytes!, binaryBytes: binaryBytes!, rssBytes, queues, bindings,
    amqpConnections, stompConnections, channels,
  };
}

function countLines(output: string): number {
  return output.split('\n').filter((line) => line.trim() !== '').length;
}

/** The list of `count` integers `rabbitmqctl eval` printed (`[1,2,3]`, maybe over several lines); throws on anything else. */
export function parseErlangIntegers(output: string, count: number): number[] {
  const text = output.replace(/\s+/g, '');
  const match = /^\[(\d+(?:,\d+)*)\]$/.exec(text);
  const values = match ? match[1]!.split(',').map(Number) : [];
  if (values.length !== count) throw new Error(`rabbitmqctl eval: expected a list of ${count} integers, got ${JSON.stringify(output.slice(0, 200))}`);
  return values;
}
