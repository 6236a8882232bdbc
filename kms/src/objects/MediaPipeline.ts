import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../worker/Channel.js';
import type { Worker } from '../worker/Worker.js';
import type { WorkerPool } from '../worker/WorkerPool.js';
import type { WorkerError } from '../worker/errors.js';
import { KurentoError } from '../rpc/KurentoError.js';
import { mapWorkerError, type ErrorContext } from './mapWorkerError.js';
import { MediaObject, type Args, type ObjectHost } from './MediaObject.js';
import type { MediaElement } from './MediaElement.js';

/**
 * A MediaPipeline and the montage-worker process that runs its media. The
 * worker starts with the pipeline and ends with its release; if it dies, the
 * pipeline marks itself dead and raises Kurento `Error` events on itself and
 * every object in it.
 */
export class MediaPipeline extends MediaObject {
  readonly #worker: Worker;
  readonly #elements = new Map<string, MediaElement>();
  #dead: WorkerError | undefined;

  private constructor(host: ObjectHost, id: string, worker: Worker) {
    super(host, 'MediaPipeline', id, undefined);
    this.#worker = worker;
    worker.on('notification', (target, event, data) => this.#onNotification(target, event, data));
    worker.on('died', (error) => this.#onWorkerDied(error));
  }

  /** Takes a running worker from the pool (see WorkerPool for waiting and 40009). */
  static async create(host: ObjectHost, workers: WorkerPool): Promise<MediaPipeline> {
    const id = `${randomUUID()}_kurento.MediaPipeline`;
    let worker: Worker;
    try {
      worker = await workers.acquire();
    } catch (error) {
      throw error instanceof KurentoError ? error : KurentoError.internal(error);
    }
    worker.logPrefix = `[worker ${id.slice(0, 8)}]`;
    return new MediaPipeline(host, id, worker);
  }

  override get mediaPipeline(): MediaPipeline {
    return this;
  }

  get workerPid(): number | undefined {
    return this.#worker.pid;
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Sends one command to this pipeline's worker, mapping failures to Kurento codes. */
  async request(
    method: string,
    params: JsonObject,
    context: ErrorContext = {},
  ): Promise<JsonObject> {
    if (this.#dead) {
      throw new KurentoError(
        'INTERNAL_ERROR',
        `Unexpected error while processing method: pipeline ${this.id} is dead (${this.#dead.message})`,
      );
    }
    try {
      return await this.#worker.request(method, params);
    } catch (error) {
      throw mapWorkerError(error, context);
    }
  }

  registerElement(element: MediaElement): void {
    this.#elements.set(element.id, element);
  }

  unregisterElement(element: MediaElement): void {
    this.#elements.delete(element.id);
  }

  /** Resolves once the worker process has exited (used by engine shutdown). */
  closeWorker(): Promise<void> {
    return this.#worker.close();
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'getGstreamerDot': {
        const result = await this.request(
          'pipeline.getDot',
          args.details === undefined ? {} : { details: args.details },
        );
        return typeof result.dot === 'string' ? result.dot : '';
      }
      case 'dumpGstreamerDot':
        // KMS writes the dot file to its debug directory; there is none here.
        return null;
      default:
        return super.callMethod(name, args);
    }
  }

  protected override onRelease(): void {
    this.#worker.close().catch((error: unknown) => {
      process.stderr.write(`pipeline ${this.id}: closing its worker failed: ${String(error)}\n`);
    });
  }

  #onNotification(target: string, event: string, data: JsonObject): void {
    const element = this.#elements.get(target);
    if (!element) return; // released meanwhile: its late events are meaningless.
    element.onWorkerEvent(event, data);
  }

  #onWorkerDied(error: WorkerError): void {
    if (this.released || this.#dead) return;
    this.#dead = error;
    process.stderr.write(`pipeline ${this.id}: ${error.message}\n`);
    this.raise('Error', {
      description: `Media pipeline failed: ${error.message}`,
      errorCode: 1,
      type: 'UNEXPECTED_PIPELINE_ERROR',
    });
    for (const object of this.descendants()) {
      object.raise('Error', {
        description: `Media pipeline failed: ${error.message}`,
        errorCode: 1,
        type: 'UNEXPECTED_ELEMENT_ERROR',
      });
    }
  }
}
