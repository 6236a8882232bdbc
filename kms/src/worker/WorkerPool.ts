import { KurentoError } from '../rpc/KurentoError.js';
import { Worker, type WorkerSettings } from './Worker.js';

export interface WorkerPoolOptions {
  settings: WorkerSettings;
  /** Running workers kept ready for the next pipelines (KMS_WARM_WORKERS); 0: none. */
  warm: number;
  /** Workers starting at once, at most (KMS_WORKER_START_CONCURRENCY). */
  maxStarting: number;
  /** How long a pipeline create waits for a worker before 40009 (KMS_PIPELINE_QUEUE_MS). */
  queueMs: number;
}

interface Waiter {
  resolve: (worker: Worker) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Hands out running workers, one per MediaPipeline.
 *
 * - Up to `warm` workers are started ahead of demand, so a create takes one that is already
 *   running (starting one costs 30 ms on an idle machine and up to a second on a busy one) and
 *   the pool refills behind it.
 * - At most `maxStarting` workers start at once: a burst of creates then costs the machine
 *   a few starts at a time instead of hundreds of processes fighting over the cores.
 * - A create that finds no worker waits in a queue, oldest first. After `queueMs` it fails
 *   with 40009 NOT_ENOUGH_RESOURCES naming the setting, unless a worker already starting is
 *   bound to reach it (it is among the first `starting` in the queue): that create gets its
 *   pipeline once the start ends, however long a loaded machine takes, because failing it
 *   would waste a start that is nearly done. So every create is answered within `queueMs`
 *   or with a worker, and a worker whose create gave up is handed to the next create or kept
 *   warm (or closed when the pool is full), never leaked.
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #idle: Worker[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #starts = new Set<Promise<void>>();
  readonly #onIdleDied = new Map<Worker, () => void>();
  /** Closes of surplus workers, awaited by close(). */
  readonly #closing = new Set<Promise<void>>();
  /** Set after a start failed with nobody waiting, so a broken setup is not retried forever. */
  #warmPaused = false;
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#fill();
  }

  /** Pids of the warm workers (running, not yet given to a pipeline). */
  idlePids(): number[] {
    return this.#idle.map((worker) => worker.pid);
  }

  /** A running worker for a new pipeline; see the class comment for waiting and failures. */
  acquire(): Promise<Worker> {
    if (this.#closed) return Promise.reject(KurentoError.internal('the engine is shutting down'));
    this.#warmPaused = false;
    const worker = this.#takeIdle();
    if (worker) {
      this.#fill();
      return Promise.resolve(worker);
    }
    return new Promise<Worker>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.#waiters.indexOf(waiter);
          // Creates are served oldest first by whichever start ends next, so the first
          // `starts` waiters each have a worker on its way: they wait for it, however slow.
          if (index < this.#starts.size) return;
          this.#waiters.splice(index, 1);
          reject(
            new KurentoError(
              'NOT_ENOUGH_RESOURCES',
              `No media worker became available within ${this.#options.queueMs} ms (KMS_PIPELINE_QUEUE_MS): ` +
                `${this.#waiters.length} creates wait for the ${this.#starts.size} workers starting ` +
                `(at most ${this.#options.maxStarting} at once, KMS_WORKER_START_CONCURRENCY); retry later`,
            ),
          );
        }, this.#options.queueMs),
      };
      this.#waiters.push(waiter);
      this.#fill();
    });
  }

  /** Closes the warm workers and every worker still starting; later acquires fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(KurentoError.internal('the engine is shutting down'));
    }
    const idle = this.#idle.splice(0);
    for (const worker of idle) this.#forget(worker);
    await Promise.all([...idle.map((worker) => worker.close()), ...this.#starts]);
    await Promise.all(this.#closing);
  }

  #takeIdle(): Worker | undefined {
    for (let worker = this.#idle.shift(); worker; worker = this.#idle.shift()) {
      this.#forget(worker);
      if (!worker.closed) return worker;
    }
    return undefined;
  }

  #forget(worker: Worker): void {
    const listener = this.#onIdleDied.get(worker);
    if (listener) worker.off('died', listener);
    this.#onIdleDied.delete(worker);
  }

  /** Starts workers for the waiting creates and the warm pool, within the concurrency bound. */
  #fill(): void {
    if (this.#closed) return;
    const warm = this.#warmPaused ? 0 : this.#options.warm;
    while (
      this.#starts.size < this.#options.maxStarting &&
      this.#starts.size < this.#waiters.length + warm - this.#idle.length
    ) {
      const start: Promise<void> = Worker.start(this.#options.settings).then(
        (worker) => {
          this.#starts.delete(start);
          this.#place(worker);
          this.#fill();
        },
        (error: unknown) => {
          this.#starts.delete(start);
          const waiter = this.#waiters.shift();
          if (waiter) {
            clearTimeout(waiter.timer);
            waiter.reject(error instanceof Error ? error : new Error(String(error)));
          } else {
            this.#warmPaused = true;
            process.stderr.write(
              `media worker pool: a warm worker failed to start: ${String(error)}\n`,
            );
          }
          this.#fill();
        },
      );
      this.#starts.add(start);
    }
  }

  /** A worker that finished starting goes to the oldest waiting create, the warm pool, or away. */
  #place(worker: Worker): void {
    if (worker.closed) return;
    const waiter = this.#closed ? undefined : this.#waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(worker);
    } else if (!this.#closed && this.#idle.length < this.#options.warm) {
      const onDied = (): void => {
        this.#forget(worker);
        this.#idle.splice(this.#idle.indexOf(worker), 1);
        this.#fill();
      };
      this.#onIdleDied.set(worker, onDied);
      worker.once('died', onDied);
      this.#idle.push(worker);
    } else {
      const closing = worker.close().finally(() => this.#closing.delete(closing));
      this.#closing.add(closing);
    }
  }
}
