import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import { MediaObject, type Args, type ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import type { ErrorContext } from './mapWorkerError.js';

export type MediaType = 'AUDIO' | 'VIDEO' | 'DATA';
const ALL_MEDIA_TYPES: MediaType[] = ['AUDIO', 'VIDEO', 'DATA'];

/** One link source → sink for one media type (Kurento's ElementConnectionData). */
interface Link {
  source: MediaElement;
  sink: MediaElement;
  mediaType: MediaType;
  sourceDescription: string;
  sinkDescription: string;
}

type FlowState = 'FLOWING' | 'NOT_FLOWING';

function removeFrom<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}

function asMediaType(value: unknown): MediaType | undefined {
  return value === 'AUDIO' || value === 'VIDEO' || value === 'DATA' ? value : undefined;
}

/**
 * Kurento's MediaElement: connect/disconnect bookkeeping with Kurento's
 * events (one ElementConnected per media type, replace-on-connect with
 * ElementDisconnected on the old source), media-flow state, and the worker
 * element behind it. Links exist here for DATA too; only AUDIO and VIDEO
 * reach the worker.
 */
export abstract class MediaElement extends MediaObject {
  readonly #pipeline: MediaPipeline;
  /** Links where this element is the source. */
  readonly #sinkLinks: Link[] = [];
  /** Links where this element is the sink. */
  readonly #sourceLinks: Link[] = [];
  readonly #flowIn = new Map<MediaType, FlowState>();
  readonly #flowOut = new Map<MediaType, FlowState>();
  readonly #transcoding = new Map<MediaType, boolean>();

  /** `parent` is the pipeline except for a HubPort, whose parent is its hub. */
  protected constructor(
    host: ObjectHost,
    className: string,
    id: string,
    pipeline: MediaPipeline,
    parent: MediaObject = pipeline,
  ) {
    super(host, className, id, parent);
    this.#pipeline = pipeline;
    pipeline.registerElement(this);
  }

  override get mediaPipeline(): MediaPipeline {
    return this.#pipeline;
  }

  /** Creates the worker side of this element, or releases it; called once by the factory. */
  async createInWorker(options: JsonObject): Promise<void> {
    try {
      await this.#pipeline.request('element.create', {
        id: this.id,
        type: this.className,
        options,
      });
    } catch (error) {
      // A element the worker refused must not stay in the object tree.
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

  isFlowingOut(): boolean {
    return [...this.#flowOut.values()].includes('FLOWING');
  }

  isFlowingIn(): boolean {
    return [...this.#flowIn.values()].includes('FLOWING');
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'connect':
        await this.#connect(args);
        return null;
      case 'disconnect':
        await this.#disconnect(args);
        return null;
      case 'getSourceConnections':
        return this.#connections(this.#sourceLinks, args, (link) => link.sinkDescription);
      case 'getSinkConnections':
        return this.#connections(this.#sinkLinks, args, (link) => link.sourceDescription);
      case 'isMediaFlowingIn':
        return this.#flowing(this.#flowIn, args, 'isMediaFlowingIn');
      case 'isMediaFlowingOut':
        return this.#flowing(this.#flowOut, args, 'isMediaFlowingOut');
      case 'isMediaTranscoding': {
        const mediaType = asMediaType(args.mediaType);
        return mediaType ? (this.#transcoding.get(mediaType) ?? false) : false;
      }
      case 'getGstreamerDot': {
        const result = await this.request('element.getDot');
        return typeof result.dot === 'string' ? result.dot : '';
      }
      case 'dumpGstreamerDot':
        return null;
      case 'getStats':
        // No RTC statistics are collected yet; an empty map is a valid answer.
        return {};
      case 'setAudioFormat':
      case 'setVideoFormat':
        // Accepted for compatibility: the worker negotiates formats itself.
        return null;
      default:
        return super.callMethod(name, args);
    }
  }

  /** Events from this element's worker side (PROTOCOL.md "Notifications"). */
  onWorkerEvent(event: string, data: JsonObject): void {
    switch (event) {
      case 'MediaFlowIn':
      case 'MediaFlowOut': {
        const mediaType = asMediaType(data.mediaType);
        const state = data.state === 'FLOWING' ? 'FLOWING' : 'NOT_FLOWING';
        if (!mediaType) return;
        const states = event === 'MediaFlowIn' ? this.#flowIn : this.#flowOut;
        if ((states.get(mediaType) ?? 'NOT_FLOWING') === state && states.has(mediaType)) return;
        states.set(mediaType, state);
        this.raise(`${event}StateChanged`, { state, padName: 'default', mediaType });
        this.onFlowChanged();
        return;
      }
      case 'MediaTranscoding': {
        const mediaType = asMediaType(data.mediaType);
        if (!mediaType) return;
        const transcoding = data.state === 'TRANSCODING';
        if (this.#transcoding.get(mediaType) === transcoding) return;
        this.#transcoding.set(mediaType, transcoding);
        this.raise('MediaTranscodingStateChanged', {
          state: transcoding ? 'TRANSCODING' : 'NOT_TRANSCODING',
          binName: typeof data.binName === 'string' ? data.binName : 'default',
          mediaType,
        });
        return;
      }
      case 'Error':
        this.raise('Error', {
          description: typeof data.description === 'string' ? data.description : 'media error',
          errorCode: typeof data.errorCode === 'number' ? data.errorCode : 0,
          type: typeof data.type === 'string' ? data.type : 'UNEXPECTED_ELEMENT_ERROR',
        });
        return;
      default:
        return;
    }
  }

  /** Hook for endpoints that derive state (MediaStateChanged) from media flow. */
  protected onFlowChanged(): void {
    // Plain elements derive nothing.
  }

  protected override onRelease(): void {
    // Links into this element disappear with it; their sources are told.
    for (const link of [...this.#sourceLinks]) {
      this.#unlink(link);
      link.source.raise('ElementDisconnected', MediaElement.#eventData(link));
    }
    for (const link of [...this.#sinkLinks]) this.#unlink(link);
    this.#pipeline.unregisterElement(this);
    // A releasing pipeline ends its whole worker; no per-element command is needed.
    if (this.#pipeline.releasing || this.#pipeline.dead) return;
    this.#pipeline.request('element.release', { id: this.id }).catch((error: unknown) => {
      process.stderr.write(`element ${this.id}: release in worker failed: ${String(error)}\n`);
    });
  }

  static #eventData(link: Link): Args {
    return {
      sink: link.sink.id,
      mediaType: link.mediaType,
      sourceMediaDescription: link.sourceDescription,
      sinkMediaDescription: link.sinkDescription,
    };
  }

  #resolveSink(args: Args): MediaElement {
    const sink = this.host.resolveArgument(String(args.sink));
    if (!(sink instanceof MediaElement)) throw KurentoError.objectNotFound(String(args.sink));
    return sink;
  }

  async #connect(args: Args): Promise<void> {
    const sink = this.#resolveSink(args);
    if (sink.mediaPipeline !== this.#pipeline) {
      throw new KurentoError('CONNECT_ERROR', 'Media elements do not share pipeline');
    }
    const requested = asMediaType(args.mediaType);
    const types = requested ? [requested] : ALL_MEDIA_TYPES;
    const sourceDescription =
      typeof args.sourceMediaDescription === 'string' ? args.sourceMediaDescription : 'default';
    const sinkDescription =
      typeof args.sinkMediaDescription === 'string' ? args.sinkMediaDescription : 'default';
    const work: Array<Promise<JsonObject>> = [];
    for (const mediaType of types) {
      // A sink input has one source: a new source replaces the old one.
      const existing = sink.#sourceLinks.find(
        (l) => l.mediaType === mediaType && l.sinkDescription === sinkDescription,
      );
      if (existing?.source === this && existing.sourceDescription === sourceDescription) continue;
      if (existing) {
        this.#unlink(existing);
        existing.source.raise('ElementDisconnected', MediaElement.#eventData(existing));
      }
      const link: Link = { source: this, sink, mediaType, sourceDescription, sinkDescription };
      this.#sinkLinks.push(link);
      sink.#sourceLinks.push(link);
      this.raise('ElementConnected', MediaElement.#eventData(link));
      if (mediaType !== 'DATA') {
        work.push(
          this.#pipeline.request('element.connect', { source: this.id, sink: sink.id, mediaType }),
        );
      }
    }
    await Promise.all(work);
  }

  async #disconnect(args: Args): Promise<void> {
    const sink = this.#resolveSink(args);
    const requested = asMediaType(args.mediaType);
    const types = requested ? [requested] : ALL_MEDIA_TYPES;
    const sourceDescription =
      typeof args.sourceMediaDescription === 'string' ? args.sourceMediaDescription : 'default';
    const sinkDescription =
      typeof args.sinkMediaDescription === 'string' ? args.sinkMediaDescription : 'default';
    const work: Array<Promise<JsonObject>> = [];
    for (const mediaType of types) {
      const link = this.#sinkLinks.find(
        (l) =>
          l.sink === sink && l.mediaType === mediaType && l.sinkDescription === sinkDescription,
      );
      if (link) {
        this.#unlink(link);
        if (mediaType !== 'DATA' && sink.mediaPipeline === this.#pipeline) {
          work.push(
            this.#pipeline.request('element.disconnect', {
              source: this.id,
              sink: sink.id,
              mediaType,
            }),
          );
        }
      }
      // KMS emits the event even when there was no such link (§6.5).
      this.raise('ElementDisconnected', {
        sink: sink.id,
        mediaType,
        sourceMediaDescription: sourceDescription,
        sinkMediaDescription: sinkDescription,
      });
    }
    await Promise.all(work);
  }

  #unlink(link: Link): void {
    removeFrom(link.source.#sinkLinks, link);
    removeFrom(link.sink.#sourceLinks, link);
  }

  #connections(links: Link[], args: Args, description: (link: Link) => string): Args[] {
    const mediaType = asMediaType(args.mediaType);
    const wanted = typeof args.description === 'string' ? args.description : undefined;
    return links
      .filter(
        (l) =>
          (mediaType === undefined || l.mediaType === mediaType) &&
          (wanted === undefined || description(l) === wanted),
      )
      .map((l) => ({
        __module__: 'kurento',
        __type__: 'ElementConnectionData',
        source: l.source.id,
        sink: l.sink.id,
        type: l.mediaType,
        sourceDescription: l.sourceDescription,
        sinkDescription: l.sinkDescription,
      }));
  }

  #flowing(states: Map<MediaType, FlowState>, args: Args, operation: string): boolean {
    const mediaType = asMediaType(args.mediaType);
    if (mediaType === 'DATA' || mediaType === undefined) {
      throw new KurentoError(
        'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR',
        `${operation}: MediaType DATA is not supported; use AUDIO or VIDEO`,
      );
    }
    return states.get(mediaType) === 'FLOWING';
  }
}
