/**
 * Builds an assembly's media on the connected media server and points its program at the RTMP
 * origin through the assembly's program bridge. The domain (`LiveAssemblies`) sees only the
 * `MediaBackend` interface, so it does not know about kurento-client, the origin or stream keys.
 *
 * The bridge (ffmpeg publishing RTMP) lives as long as the assembly is live, across rebuilds of
 * its media: after a worker crash or a media server restart the new pipeline sends to the same
 * ports, and the program's publish on the origin (and every edge's HLS) never stops.
 */
import { ProgramBridge } from '../bridge/ProgramBridge.js';
import { freeEvenUdpPorts } from '../bridge/rtpPorts.js';
import type { RecordingSink } from '../domain/Archive.js';
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
  /** The archive, told of every recording. */
  recordings?: RecordingSink;
  logger: Logger;
  cameraGraceMs?: number;
}

export class KurentoMediaBackend implements MediaBackend {
  readonly #options: KurentoMediaBackendOptions;
  #origin: RtmpOrigin | undefined;
  /** The program bridge of every assembly whose program is published. */
  readonly #bridges = new Map<AssemblyId, ProgramBridge>();

  constructor(options: KurentoMediaBackendOptions) {
    this.#options = options;
  }

  get available(): boolean {
    return this.#options.server.client !== undefined;
  }

  /**
   * From now on, new assembly media publishes its program to this origin. Bridges publishing
   * to another one stop; the media rebuilt next gets bridges to this one.
   */
  setOrigin(origin: RtmpOrigin | undefined): void {
    if (origin === this.#origin) return;
    this.#origin = origin;
    for (const [assemblyId, bridge] of this.#bridges) {
      this.#bridges.delete(assemblyId);
      void bridge.stop();
    }
  }

  /** The assembly's program ended: its bridge stops and the origin forgets its key. */
  async endProgram(assemblyId: AssemblyId): Promise<void> {
    const bridge = this.#bridges.get(assemblyId);
    this.#bridges.delete(assemblyId);
    await bridge?.stop();
    this.#origin?.revokeStream(streamName(assemblyId));
  }

  async #bridgeFor(assemblyId: AssemblyId, origin: RtmpOrigin): Promise<ProgramBridge> {
    const existing = this.#bridges.get(assemblyId);
    if (existing !== undefined) return existing;
    // One stream per assembly, named by its id (ids are url-safe, as stream names must be).
    const stream = streamName(assemblyId);
    origin.allowStream(stream, this.#options.streamKey(assemblyId));
    const [videoPort = 0, audioPort = 0] = await freeEvenUdpPorts(2);
    const log = this.#options.logger.child({ assembly: assemblyId });
    const bridge = new ProgramBridge({
      name: stream,
      rtp: { videoPort, audioPort },
      // No key on ffmpeg's command line (any local user reads it in `ps`): the origin knows
      // the bridge's ffmpeg by its pid instead.
      publishUrl: origin.localUrl(stream),
    });
    origin.allowLocalProcess(stream, 'publish', () => bridge.pid);
    bridge.on('exited', (code, signal, delayMs) => {
      log.warn('program bridge exited; restarting', {
        code,
        signal,
        delayMs,
        stderr: bridge.lastError.slice(-300),
      });
    });
    bridge.on('running', (pid) => log.info('program bridge running', { pid }));
    this.#bridges.set(assemblyId, bridge);
    return bridge;
  }

  async build(
    assemblyId: AssemblyId,
    layout: LayoutRequest,
    options: { deliver: boolean },
  ): Promise<AssemblyMedia> {
    const client = this.#options.server.client;
    if (client === undefined) throw new Error('the media server is not connected');
    const origin = this.#origin;
    const output: ProgramOutput | undefined =
      origin === undefined ? undefined : { bridge: await this.#bridgeFor(assemblyId, origin) };
    return AssemblyMedia.create({
      client,
      assemblyId,
      layout,
      output,
      deliver: options.deliver,
      recordingsDir: this.#options.recordingsDir,
      recordings: this.#options.recordings,
      logger: this.#options.logger.child({ assembly: assemblyId }),
      cameraGraceMs: this.#options.cameraGraceMs,
    });
  }
}
