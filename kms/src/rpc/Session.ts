import { randomUUID } from 'node:crypto';
import type { Connection } from './Connection.js';

interface Subscription {
  objectId: string;
  type: string;
}

/**
 * A Kurento session: outlives its WebSocket (objects and subscriptions stay
 * until garbage collection), and is what events are addressed to.
 *
 * Several subscriptions to the same (object, event type) share one delivery,
 * so each event reaches the session once however many subscriptions exist.
 */
export class Session {
  readonly id: string;
  connection: Connection | undefined;
  /** Set by any use; cleared by each GC run (kurento-protocol.md §1.5). */
  usedSinceGc = true;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #counts = new Map<string, number>();

  constructor(id: string) {
    this.id = id;
  }

  static #key(objectId: string, type: string): string {
    return `${objectId}\u0000${type}`;
  }

  subscribe(objectId: string, type: string): string {
    const subscriptionId = randomUUID();
    this.#subscriptions.set(subscriptionId, { objectId, type });
    const key = Session.#key(objectId, type);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    return subscriptionId;
  }

  /** Unknown subscriptions are ignored: unsubscribe never fails (§2.5). */
  unsubscribe(subscriptionId: string): void {
    const subscription = this.#subscriptions.get(subscriptionId);
    if (!subscription) return;
    this.#subscriptions.delete(subscriptionId);
    const key = Session.#key(subscription.objectId, subscription.type);
    const left = (this.#counts.get(key) ?? 1) - 1;
    if (left > 0) this.#counts.set(key, left);
    else this.#counts.delete(key);
  }

  wants(objectId: string, type: string): boolean {
    return this.#counts.has(Session.#key(objectId, type));
  }

  /** Drops the subscriptions of a destroyed object. */
  dropObject(objectId: string): void {
    for (const [subscriptionId, subscription] of this.#subscriptions) {
      if (subscription.objectId === objectId) this.unsubscribe(subscriptionId);
    }
  }

  /** Events raised while no connection is bound are dropped, as KMS does. */
  send(message: unknown): void {
    if (this.connection?.open) this.connection.send(message);
  }
}
