import { EventEmitter } from 'node:events';

/**
 * An EventEmitter whose events are declared as a type map
 * (`{ died: [Error]; closed: [] }`), so a listener with the wrong signature
 * fails to compile. Same idea as mediasoup's EnhancedEventEmitter.
 */
export type EventMap = Record<string, unknown[]>;

export class EnhancedEventEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Objects may have many listeners (one per session subscription); the
    // default limit of 10 would only produce misleading leak warnings.
    this.#emitter.setMaxListeners(Infinity);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    return this.#emitter.emit(event, ...args);
  }

  removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
