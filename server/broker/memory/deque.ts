/**
 * A double-ended FIFO on a growable ring buffer. Queues need O(1) push at the back (publish),
 * shift at the front (dispatch) and push at the front (a NACKed message goes back to the head, as in
 * RabbitMQ); `Array#shift`/`unshift` are O(n) and would make a deep backlog quadratic.
 */
export class Deque<T> {
  private items: Array<T | undefined>;
  private head = 0;
  private size = 0;
  /** Capacity is always a power of two so wrapping is a bit mask. */
  private mask: number;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity) capacity *= 2;
    this.items = new Array<T | undefined>(capacity);
    this.mask = capacity - 1;
  }

  get length(): number {
    return this.size;
  }

  pushBack(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  pushFront(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = item;
    this.size++;
  }

  /** Removes and returns the front item, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let the item be collected
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return item;
  }

  /** The front item without removing it, or undefined when empty. */
  peekFront(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** Front to back. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.items[(this.head + i) & this.mask] as T;
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.items.length);
    this.head = 0;
    this.size = 0;
  }

  private grow(): void {
    const capacity = this.items.length;
    const next = new Array<T | undefined>(capacity * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) & this.mask];
    this.items = next;
    this.head = 0;
    this.mask = capacity * 2 - 1;
  }
}
