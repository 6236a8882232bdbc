import { randomUUID } from 'node:crypto';
import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import { MediaObject, type Args, type ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import type { ErrorContext } from './mapWorkerError.js';
import type { HubPort } from './HubPort.js';

/**
 * Kurento's Hub: a mixer or switcher inside a pipeline whose HubPorts are its
 * children, so releasing a hub releases its ports first. The worker runs the
 * hub as one element (compositor, audio mixers or selectors) that its ports
 * feed and read.
 */
export abstract class Hub extends MediaObject {
  readonly #pipeline: MediaPipeline;

  protected constructor(host: ObjectHost, className: string, pipeline: MediaPipeline) {
    super(host, className, `${pipeline.id}/${randomUUID()}_kurento.${className}`, pipeline);
    this.#pipeline = pipeline;
  }

  override get mediaPipeline(): MediaPipeline {
    return this.#pipeline;
  }

  /** Creates the worker side of this hub, or releases it; called once by the factory. */
  async createInWorker(options: JsonObject): Promise<void> {
    try {
      await this.#pipeline.request('element.create', {
        id: this.id,
        type: this.className,
        options,
      });
    } catch (error) {
      // A hub the worker refused must not stay in the object tree.
      this.release();
      throw error;
    }
  }

  protected request(
    method: string,
    params: JsonObject = {},
    context: ErrorContext = {},
  ): Promise<JsonObject> {
    return this.#pipeline.request(method, { id: this.id, ...params }, context);
  }

  /** Resolves a HubPort argument and checks that it is one of this hub's ports. */
  protected ownPort(id: unknown): HubPort {
    const port = this.host.resolveArgument(String(id));
    if (!port || port.className !== 'HubPort') throw KurentoError.objectNotFound(String(id));
    if (port.parent !== this) throw new KurentoError('CONNECT_ERROR', 'Can not connect ports');
    return port as HubPort;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'getGstreamerDot': {
        const result = await this.request('element.getDot');
        return typeof result.dot === 'string' ? result.dot : '';
      }
      case 'dumpGstreamerDot':
        return null;
      default:
        return super.callMethod(name, args);
    }
  }

  protected override onRelease(): void {
    // The ports (children) were released first; a releasing pipeline ends
    // its whole worker, so no per-hub command is needed then.
    if (this.#pipeline.releasing || this.#pipeline.dead) return;
    this.#pipeline.request('element.release', { id: this.id }).catch((error: unknown) => {
      process.stderr.write(`hub ${this.id}: release in worker failed: ${String(error)}\n`);
    });
  }

  /** Creates the worker hub, releasing the half-made object if that fails. */
  protected static async build<T extends Hub>(hub: T, options: JsonObject): Promise<T> {
    await hub.createInWorker(options);
    return hub;
  }
}
