import type { Connection } from './Connection.js';

/** The longest stretch of queued requests run before the event loop reads its sockets again. */
const SLICE_MS = 5;

/**
 * Runs clients' requests in arrival order, in slices of at most SLICE_MS, going back to the
 * event loop's I/O between slices; RpcServer answers a `ping` the moment it is read, ahead of
 * this queue, unless its own connection still has requests queued (their replies come first).
 *
 * Why: a burst (200 sessions each creating a pipeline) arrives in one read of the sockets; run
 * at once, its requests held a ping for tens of milliseconds on two busy cores. A ping tells a
 * client that the server is alive, so it must not wait behind other clients' work.
 */
export class RequestQueue {
  readonly #jobs: Array<{ connection: Connection; run: () => void }> = [];
  readonly #queuedPer = new Map<Connection, number>();
  #scheduled = false;

  /** Whether `connection` has requests waiting to run. */
  hasQueued(connection: Connection): boolean {
    return this.#queuedPer.has(connection);
  }

  push(connection: Connection, run: () => void): void {
    this.#jobs.push({ connection, run });
    this.#queuedPer.set(connection, (this.#queuedPer.get(connection) ?? 0) + 1);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const deadline = performance.now() + SLICE_MS;
    let job = this.#jobs.shift();
    while (job) {
      const left = (this.#queuedPer.get(job.connection) ?? 1) - 1;
      if (left > 0) this.#queuedPer.set(job.connection, left);
      else this.#queuedPer.delete(job.connection);
      job.run();
      if (performance.now() >= deadline) break;
      job = this.#jobs.shift();
    }
    if (this.#jobs.length > 0) this.#schedule();
  }
}
