/**
 * The listeners behind {@link Broker.onReadyChange}, one implementation for both engines: each
 * change is logged once, by the engine, in its own words (the relay only updates its readiness
 * gauge from the same event), then told to every listener; a listener that throws is logged and
 * the others still hear of it.
 */
import type { Logger } from '../observability/logger';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named by the doc comments' {@link}s
import type { Broker } from './broker';

export type ReadyListener = (ready: boolean) => void;

export class ReadySignal {
  private readonly listeners = new Set<ReadyListener>();

  constructor(private readonly logger: Logger) {}

  /** {@link Broker.onReadyChange}: returns the function that unregisters `listener`. */
  add(listener: ReadyListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Readiness became `ready`: logs `news` (info) and tells every listener, in the order they came. */
  changed(ready: boolean, news: string): void {
    this.logger.info({ ready }, news);
    for (const listener of [...this.listeners]) {
      try {
        listener(ready);
      } catch (err) {
        this.logger.error({ err }, 'onReadyChange listener threw');
      }
    }
  }
}
