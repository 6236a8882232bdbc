/**
 * Builds an assembly's media on the connected media server and points its program at the RTMP
 * origin. The domain (`LiveAssemblies`) sees only the `MediaBackend` interface, so it does not
 * know about kurento-client, the origin or stream keys.
 */
import type { AssemblyId } from '../domain/ids.js';
import type { MediaBackend } from '../domain/LiveAssemblies.js';
import type { Logger } from '../log.js';
import { streamName, type RtmpOrigin } from '../origin/RtmpOrigin.js';
import { AssemblyMedia, type LayoutRequest, type ProgramOutput } from './AssemblyMedia.js';
import type { MediaServer } from './MediaServer.js';

export interface KurentoMediaBackendOptions {
  server: MediaServer;
  /** The assembly's secret stream key (the origin accepts only it). */
  streamKey: (assembly: AssemblyId) => string;
  recordingsDir: string;
  logger: Logger;
  cameraGraceMs?: number;
}

export class KurentoMediaBackend implements MediaBackend {
  readonly #options: KurentoMediaBackendOptions;
  #origin: RtmpOrigin | undefined;

  constructor(options: KurentoMediaBackendOptions) {
    this.#options = options;
  }

  get available(): boolean {
    return this.#options.server.client !== undefined;
  }

  /** From now on, new assembly media publishes its program to this origin. */
  setOrigin(origin: RtmpOrigin | undefined): void {
    this.#origin = origin;
  }

  async build(assemblyId: AssemblyId, layout: LayoutRequest): Promise<AssemblyMedia> {
    const client = this.#options.server.client;
    if (client === undefined) throw new Error('the media server is not connected');
    let output: ProgramOutput | undefined;
    const origin = this.#origin;
    if (origin !== undefined) {
      // One stream per assembly, named by its id (ids are url-safe, as stream names must be).
      const stream = streamName(assemblyId);
      origin.allowStream(stream, this.#options.streamKey(assemblyId));
      output = { name: stream, publishUrl: origin.publishUrl(stream) };
    }
    return AssemblyMedia.create({
      client,
      assemblyId,
      layout,
      output,
      recordingsDir: this.#options.recordingsDir,
      logger: this.#options.logger.child({ assembly: assemblyId }),
      cameraGraceMs: this.#options.cameraGraceMs,
    });
  }
}
