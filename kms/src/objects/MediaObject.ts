import { KurentoError } from '../rpc/KurentoError.js';
import type { Kmd } from './Kmd.js';
import type { MediaPipeline } from './MediaPipeline.js';

export type Args = Record<string, unknown>;

/**
 * What an object needs from the world around it. Implemented by MediaSet,
 * which owns the id → object map, ownership and event fan-out.
 */
export interface ObjectHost {
  readonly kmd: Kmd;
  /** Hands an event to every session subscribed to (source, type). */
  deliverEvent(source: MediaObject, type: string, data: Args): void;
  /** Called once per object when it is destroyed (after its children). */
  objectDestroyed(object: MediaObject): void;
  /** Looks up an object id passed as an argument (sink, mediaPipeline…). */
  resolveArgument(id: string): MediaObject | undefined;
}

/** Property defaults KMS reports before anything was set (units as in the kmd docs). */
const PROPERTY_DEFAULTS: Readonly<Record<string, unknown>> = {
  latencyStats: false,
  encoderBitrate: 300000,
  minEncoderBitrate: 0,
  maxEncoderBitrate: 0,
  maxAudioRecvBandwidth: 0,
  maxVideoRecvBandwidth: 0,
  minVideoRecvBandwidth: 0,
  minVideoSendBandwidth: 100,
  maxVideoSendBandwidth: 500,
  mtu: 1200,
};

/**
 * Root of Kurento's class tree. Every RPC `invoke` goes through invoke(),
 * which finds the operation in the kmd, validates the named arguments and
 * dispatches to callMethod / getProperty / setProperty, each overridden down
 * the hierarchy (a subclass handles its own names and defers to super).
 */
export abstract class MediaObject {
  readonly id: string;
  readonly className: string;
  readonly parent: MediaObject | undefined;
  readonly children = new Set<MediaObject>();
  /** Unix time in seconds, as KMS reports creationTime. */
  readonly creationTime = Math.floor(Date.now() / 1000);
  protected readonly host: ObjectHost;
  readonly #tags = new Map<string, string>();
  readonly #stored = new Map<string, unknown>();
  #name: string;
  #sendTagsInEvents = false;
  #released = false;
  #releasing = false;

  protected constructor(
    host: ObjectHost,
    className: string,
    id: string,
    parent: MediaObject | undefined,
  ) {
    this.host = host;
    this.className = className;
    this.id = id;
    this.parent = parent;
    this.#name = id;
    parent?.children.add(this);
  }

  abstract get mediaPipeline(): MediaPipeline | undefined;

  get released(): boolean {
    return this.#released;
  }

  /** True from the start of release(), while the children are being released. */
  get releasing(): boolean {
    return this.#releasing;
  }

  /** Runs one `invoke` request: kmd lookup, argument validation, dispatch. */
  async invoke(operation: string, params: Args): Promise<unknown> {
    const found = this.host.kmd.findOperation(this.className, operation);
    if (!found) {
      throw new KurentoError(
        'MALFORMED_TRANSACTION',
        `Method '${operation}' with ${Object.keys(params).length} parameters not found`,
      );
    }
    switch (found.kind) {
      case 'method': {
        if (found.params.some((p) => !p.optional) && Object.keys(params).length === 0) {
          throw KurentoError.marshall("'operationParams' is required");
        }
        const args = this.host.kmd.marshalParams(found.params, params, this.host);
        const value = await this.callMethod(found.name, args);
        return value === undefined ? null : value;
      }
      case 'get': {
        const value = await this.getProperty(found.property.name);
        return value === undefined ? null : value;
      }
      case 'set': {
        const name = found.property.name;
        if (params[name] === undefined)
          throw KurentoError.marshall(`'${name}' parameter is required`);
        const value = this.host.kmd.marshal(found.property.type, params[name], name, this.host);
        await this.setProperty(name, value);
        return null;
      }
    }
  }

  protected callMethod(name: string, args: Args): unknown {
    switch (name) {
      case 'addTag':
        this.#tags.set(String(args.key), String(args.value));
        return null;
      case 'removeTag':
        this.#tags.delete(String(args.key));
        return null;
      case 'getTag': {
        const value = this.#tags.get(String(args.key));
        if (value === undefined)
          throw new KurentoError('MEDIA_OBJECT_TAG_KEY_NOT_FOUND', 'Tag key not found');
        return value;
      }
      case 'getTags':
        return this.tagList();
      default:
        return this.unsupported(name);
    }
  }

  protected getProperty(name: string): unknown {
    switch (name) {
      case 'id':
        return this.id;
      case 'name':
        return this.#name;
      case 'sendTagsInEvents':
        return this.#sendTagsInEvents;
      case 'creationTime':
        return this.creationTime;
      case 'mediaPipeline':
        return this.mediaPipeline?.id ?? null;
      case 'parent':
        return this.parent?.id ?? null;
      case 'children':
        return [...this.children].map((child) => child.id);
      default:
        if (this.#stored.has(name)) return this.#stored.get(name);
        if (name in PROPERTY_DEFAULTS) return PROPERTY_DEFAULTS[name];
        return this.unsupported(`get${name.charAt(0).toUpperCase()}${name.slice(1)}`);
    }
  }

  protected setProperty(name: string, value: unknown): void | Promise<void> {
    switch (name) {
      case 'name':
        this.#name = String(value);
        return;
      case 'sendTagsInEvents':
        this.#sendTagsInEvents = value === true;
        return;
      default:
        // Settable properties the media path does not use yet (bitrates,
        // mtu…) are remembered so getters return what was set, as in KMS.
        this.#stored.set(name, value);
    }
  }

  /** A value previously stored by the generic setter, if any. */
  protected storedProperty(name: string): unknown {
    return this.#stored.get(name);
  }

  protected unsupported(operation: string): never {
    throw new KurentoError(
      'MEDIA_OBJECT_OPERATION_NOT_SUPPORTED',
      `Operation '${operation}' is not supported by ${this.className} in this media engine`,
    );
  }

  protected tagList(): Args[] {
    return [...this.#tags].map(([key, value]) => ({
      __module__: 'kurento',
      __type__: 'Tag',
      key,
      value,
    }));
  }

  /**
   * Raises a Kurento event with the common RaiseBase fields. `type` is added
   * for events derived from Media; ObjectCreated/ObjectDestroyed have none,
   * and Error's `type` is the error kind passed in `extra`.
   */
  raise(type: string, extra: Args = {}, options: { withType?: boolean } = {}): void {
    if (this.#released && type !== 'ObjectDestroyed') return;
    const data: Args = {
      source: this.id,
      tags: this.#sendTagsInEvents ? this.tagList() : [],
      timestampMillis: String(Date.now()),
    };
    if (options.withType !== false) data.type = type;
    Object.assign(data, extra);
    this.host.deliverEvent(this, type, data);
  }

  /**
   * Releases this object and, first, all its descendants. The reply to the
   * client does not wait for the teardown (kurento-protocol.md §6.2), so
   * asynchronous cleanup happens in onRelease without being awaited here.
   * Safe to call twice.
   */
  release(): void {
    if (this.#released || this.#releasing) return;
    this.#releasing = true;
    for (const child of [...this.children]) child.release();
    this.#released = true;
    this.parent?.children.delete(this);
    this.onRelease();
    this.host.objectDestroyed(this);
  }

  /** Subclass hook for teardown work (worker commands, links). */
  protected onRelease(): void {
    // MediaObject itself holds nothing outside the engine.
  }

  /** All descendants, depth first. */
  descendants(): MediaObject[] {
    const out: MediaObject[] = [];
    for (const child of this.children) out.push(child, ...child.descendants());
    return out;
  }
}
