/**
 * What a RabbitMQ node costs right now, for load scripts that compare it before and after: its
 * Erlang VM's memory after a full garbage collection of every process (the figure that does not
 * depend on when the VM last collected), its processes' resident memory (what the machine pays;
 * the VM's allocators keep freed memory, so this only grows), and its queue and binding counts.
 */
import type { RabbitNode } from '../../test/harness/rabbitmq';
import { rssBytesOfProcessesMatching } from './relay-process';

/** Erlang expression: collect every process, then the VM's total memory in bytes. */
export const GC_THEN_MEMORY_TOTAL = 'lists:foreach(fun(P)->erlang:garbage_collect(P) end, processes()), erlang:memory(total).';

export interface RabbitFootprint {
  /** `erlang:memory(total)` after a full GC, bytes. */
  erlangMemoryBytes: number;
  /** Resident memory of the node's processes (Erlang VM and helpers), bytes. */
  rssBytes: number;
  queues: number;
  /** Bindings to queues, without the default exchange's implicit one per queue. */
  bindings: number;
}

/** Measures the node (a few rabbitmqctl calls; seconds with tens of thousands of bindings). */
export async function rabbitFootprint(node: RabbitNode): Promise<RabbitFootprint> {
  const erlangMemoryBytes = parseErlangInteger(await node.ctl(['eval', GC_THEN_MEMORY_TOTAL], 120_000));
  const rssBytes = rssBytesOfProcessesMatching(node.dir);
  const queues = (await node.listQueues()).length;
  const bindings = (await node.listBindings()).length;
  return { erlangMemoryBytes, rssBytes, queues, bindings };
}

/** The integer `rabbitmqctl eval` printed (alone on its line); throws on anything else. */
export function parseErlangInteger(output: string): number {
  const line = output.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  if (!/^\d+$/.test(line)) throw new Error(`rabbitmqctl eval: expected an integer, got ${JSON.stringify(output.slice(0, 200))}`);
  return Number(line);
}
