import { KurentoError } from '../rpc/KurentoError.js';
import type { CpuMonitor } from '../CpuMonitor.js';
import type { WorkerPool } from '../worker/WorkerPool.js';
import { FACTORIES, factoriesByModule } from './Factories.js';
import { Kmd } from './Kmd.js';
import type { Args, MediaObject, ObjectHost } from './MediaObject.js';
import { MediaPipeline } from './MediaPipeline.js';
import { ServerManager } from './ServerManager.js';
import type { UriPolicy } from './UriPolicy.js';
import type { HttpEndpointServer } from '../http/HttpEndpointServer.js';
import type { HttpsUploadRelay } from '../http/HttpsUploadRelay.js';
import type { IceDefaults } from './WebRtcEndpoint.js';

export interface MediaSetOptions {
  /** Running workers for new pipelines (warm pool, bounded starts, bounded wait). */
  workers: WorkerPool;
  ice: IceDefaults;
  uris: UriPolicy;
  /** Most pipelines at once (KMS_MAX_PIPELINES); 0: no limit. */
  maxPipelines: number;
  /** Refuse new pipelines while the machine's CPU use is over `limit` percent (KMS_MAX_CPU_PERCENT). */
  cpu?: { limit: number; monitor: CpuMonitor };
  /** Recorders may replace an existing file (KMS_RECORDER_OVERWRITE). */
  recorderOverwrite: boolean;
  /** Where an RtpEndpoint created with useIpv6 binds (KMS_RTP_IPV6_ADDRESS). */
  rtpIpv6Address: string;
  /** The HTTP server of HttpPostEndpoints. */
  http: HttpEndpointServer;
  /** Carries recorders' https:// uploads. */
  httpsRelay: HttpsUploadRelay;
  /** Session ids known to the RPC layer (for ServerManager.getSessions). */
  sessions: () => string[];
}

/** Receives every raised event; the session layer decides who gets it. */
export type EventSink = (source: MediaObject, type: string, data: Args) => void;
export type DestroyedSink = (objectId: string) => void;

/**
 * Every live object by id, which sessions own it (kurento-protocol.md §6.3),
 * and the event fan-out. Same role as KMS's MediaSet.
 *
 * Events are queued and handed to the sessions on a later macrotask, so the
 * reply to the request that raised them (connect → ElementConnected,
 * create → ObjectCreated) is always written first (§6.4 allows this order).
 */
/** The module prefix of every core, elements and filters class (Kurento's "kurento" module). */
const QUALIFIER = 'kurento.';

export class MediaSet implements ObjectHost {
  /** Live pipelines and pipelines starting, counted for admission (see #admitPipeline). */
  readonly #pipelineIds = new Set<string>();
  #pipelinesStarting = 0;
  readonly kmd = new Kmd();
  readonly serverManager: ServerManager;
  readonly #objects = new Map<string, MediaObject>();
  readonly #owners = new Map<string, Set<string>>();
  readonly #options: MediaSetOptions;
  readonly #queue: Array<() => void> = [];
  #flushScheduled = false;
  #eventSink: EventSink = () => undefined;
  #destroyedSink: DestroyedSink = () => undefined;

  constructor(options: MediaSetOptions) {
    this.#options = options;
    this.serverManager = new ServerManager(this, {
      pipelines: () => this.pipelines(),
      sessions: () => this.#options.sessions(),
      factoriesByModule,
      metadata: () => '',
    });
    this.#objects.set(this.serverManager.id, this.serverManager);
  }

  onEvent(sink: EventSink): void {
    this.#eventSink = sink;
  }

  onDestroyed(sink: DestroyedSink): void {
    this.#destroyedSink = sink;
  }

  /** The object, or 40101 when it is unknown or released. */
  get(id: string): MediaObject {
    const object = this.#objects.get(id);
    if (!object || object.released) throw KurentoError.objectNotFound(id);
    return object;
  }

  resolveArgument(id: string): MediaObject | undefined {
    const object = this.#objects.get(id);
    return object && !object.released ? object : undefined;
  }

  pipelines(): MediaPipeline[] {
    return [...this.#objects.values()].filter(
      (o): o is MediaPipeline => o instanceof MediaPipeline && !o.released,
    );
  }

  async create(
    requestedType: string,
    constructorParams: Args,
    sessionId: string,
  ): Promise<MediaObject> {
    // Kurento registers every class under its plain and its module-qualified name
    // ("kurento.PlayerEndpoint"); its own tooling creates with the qualified one.
    const type = requestedType.startsWith(QUALIFIER)
      ? requestedType.slice(QUALIFIER.length)
      : requestedType;
    const factory = FACTORIES.get(type);
    if (!factory)
      throw new KurentoError('MEDIA_OBJECT_NOT_AVAILABLE', `Factory '${requestedType}' not found`);
    const declared = this.kmd.constructorParams(type);
    if (declared.some((p) => !p.optional) && Object.keys(constructorParams).length === 0) {
      throw KurentoError.marshall("'constructorParams' is required");
    }
    const args = this.kmd.marshalParams(declared, constructorParams, this);
    if (type === 'MediaPipeline')
      return this.#admitPipeline(() => this.#build(factory, args, constructorParams, sessionId));
    return this.#build(factory, args, constructorParams, sessionId);
  }

  /**
   * Admission: a pipeline is a worker process, so their number is limited. A create over the
   * limit fails at once (Kurento's 40009 NOT_ENOUGH_RESOURCES) naming the limit; pipelines still
   * starting count, so a burst cannot overshoot, and a failed start frees its place. With
   * KMS_MAX_CPU_PERCENT, a create while the last CPU sample is over it fails the same way; the
   * sample is taken on a timer (CpuMonitor), so the check costs nothing here.
   */
  async #admitPipeline(build: () => Promise<MediaObject>): Promise<MediaObject> {
    const limit = this.#options.maxPipelines;
    if (limit > 0 && this.#pipelineIds.size + this.#pipelinesStarting >= limit) {
      throw new KurentoError(
        'NOT_ENOUGH_RESOURCES',
        `Too many pipelines: the engine runs at most ${limit} (KMS_MAX_PIPELINES); release one or raise the limit`,
      );
    }
    const cpu = this.#options.cpu;
    const used = cpu?.monitor.percent;
    if (cpu && used !== undefined && used > cpu.limit) {
      throw new KurentoError(
        'NOT_ENOUGH_RESOURCES',
        `CPU in use ${used.toFixed(0)} % is over the limit of ${cpu.limit} % (KMS_MAX_CPU_PERCENT); retry later or raise the limit`,
      );
    }
    this.#pipelinesStarting += 1;
    try {
      const pipeline = await build();
      this.#pipelineIds.add(pipeline.id);
      return pipeline;
    } finally {
      this.#pipelinesStarting -= 1;
    }
  }

  async #build(
    factory: NonNullable<ReturnType<typeof FACTORIES.get>>,
    args: Args,
    constructorParams: Args,
    sessionId: string,
  ): Promise<MediaObject> {
    const object = await factory.create(
      {
        host: this,
        workers: this.#options.workers,
        ice: this.#options.ice,
        uris: this.#options.uris,
        recorderOverwrite: this.#options.recorderOverwrite,
        rtpIpv6Address: this.#options.rtpIpv6Address,
        http: this.#options.http,
        httpsRelay: this.#options.httpsRelay,
        requested: constructorParams,
      },
      args,
    );
    if (object.released)
      throw KurentoError.internal(`object ${object.id} was released while it was being created`);
    this.#objects.set(object.id, object);
    // The creator owns it, and so does every session that owns its parent.
    const owners = new Set<string>([
      sessionId,
      ...(object.parent ? (this.#owners.get(object.parent.id) ?? []) : []),
    ]);
    this.#owners.set(object.id, owners);
    this.ref(object, sessionId);
    this.serverManager.raise('ObjectCreated', { object: object.id }, { withType: false });
    return object;
  }

  /** Adds a session's reference to an object and its ancestors. */
  ref(object: MediaObject, sessionId: string): void {
    for (let current: MediaObject | undefined = object; current; current = current.parent) {
      if (current === this.serverManager) return;
      this.#owners.get(current.id)?.add(sessionId);
    }
  }

  /** Drops a session's reference to an object and its descendants; releases what nobody owns. */
  unref(object: MediaObject, sessionId: string): void {
    for (const current of [object, ...object.descendants()])
      this.#owners.get(current.id)?.delete(sessionId);
    if (object.released) return;
    if ((this.#owners.get(object.id)?.size ?? 0) === 0) {
      object.release();
      return;
    }
    for (const child of [...object.children]) {
      if (!child.released && (this.#owners.get(child.id)?.size ?? 0) === 0) child.release();
    }
  }

  release(object: MediaObject): void {
    if (object === this.serverManager) return;
    object.release();
  }

  /** Ids of the top-most objects a session owns (pipelines, and orphans if any). */
  ownedBy(sessionId: string): MediaObject[] {
    const owned: MediaObject[] = [];
    for (const [id, owners] of this.#owners) {
      const object = this.#objects.get(id);
      if (
        object &&
        owners.has(sessionId) &&
        !(object.parent && this.#owners.get(object.parent.id)?.has(sessionId))
      ) {
        owned.push(object);
      }
    }
    return owned;
  }

  /** Releases everything and waits for every worker, warm ones included, to exit (engine shutdown). */
  async closeAll(): Promise<void> {
    this.#options.cpu?.monitor.close();
    const pipelines = this.pipelines();
    for (const pipeline of pipelines) pipeline.release();
    await Promise.all([
      ...pipelines.map((pipeline) => pipeline.closeWorker()),
      this.#options.workers.close(),
    ]);
  }

  deliverEvent(source: MediaObject, type: string, data: Args): void {
    this.#queue.push(() => this.#eventSink(source, type, data));
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      for (const deliver of this.#queue.splice(0)) deliver();
    });
  }

  objectDestroyed(object: MediaObject): void {
    this.#objects.delete(object.id);
    this.#pipelineIds.delete(object.id);
    this.#owners.delete(object.id);
    this.#destroyedSink(object.id);
    this.serverManager.raise('ObjectDestroyed', { objectId: object.id }, { withType: false });
  }
}
