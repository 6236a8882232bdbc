/**
 * The Kurento objects of one live assembly, built through kurento-client only, so the same code
 * drives the embedded engine and a real Kurento Media Server:
 *
 *   camera WebRtcEndpoint ─► mixer HubPort ─┐ Composite (grid) or AlphaBlending (spotlight, pip)
 *          │                                └► mix-out HubPort ─► switcher "mix" port
 *          └──────────────────────────────────────────────────► switcher camera port
 *   PlayerEndpoint (injected video) ──────────────────────────► switcher video port
 *                       Dispatcher (the program switcher) ─► program-out HubPort
 *       program-out ─► RtpEndpoint ─► ProgramBridge (ffmpeg) ─► RTMP origin ─► edges ─► HLS
 *       program-out ─► presenter monitor WebRtcEndpoints (sub-second)
 *       program-out ─► RecorderEndpoint (while recording)
 *
 *   While a studio watches the preview (`offerPreviewMonitor`), a second Dispatcher, the preview
 *   switcher, takes the same camera endpoints, the same mix output and a PlayerEndpoint of its
 *   own for a previewed clip, video only, and feeds the preview monitors:
 *       camera / mix-out / preview player ─► preview switcher ─► preview-out ─► preview monitors
 *   Its ports take the camera and mix tees the program already decodes, so the preview costs
 *   the engine one shared encoder for all preview monitors, never one per source or per viewer,
 *   and it is released when the last preview monitor goes.
 *
 * Every camera endpoint is kept connected to its own switcher port as well as to the mixer, so a
 * cut to one camera is a Dispatcher.connect and never renegotiates anything.
 *
 * This class decides nothing about the program: `LiveAssembly` (the domain) says what to show and
 * this class shows it, reporting what happened in media (a clip ended, a camera's picture
 * stopped) as events. All graph changes go through one queue, so concurrent requests (three
 * cameras offering at once, a layout change during a cut) never interleave half-way.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import kurento from 'kurento-client';
import type { ProgramBridge } from '../bridge/ProgramBridge.js';
import type { AssemblyId, CameraId } from '../domain/ids.js';
import { MediaReleasedError, SdpRejectedError, VideoFailedError } from '../domain/errors.js';
import type { RecordingSink } from '../domain/Archive.js';
import type { Logger } from '../log.js';
import { connect, disconnect, strict } from './strict.js';

/** A trickled ICE candidate as browsers produce it and Kurento takes it. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export type MixLayout = 'grid' | 'spotlight' | 'pip';

export interface LayoutRequest {
  layout: MixLayout;
  /** Most tiles in the grid; spotlight shows one camera, picture-in-picture two. */
  maxTiles: number;
  /** The moderator's choice and order of cameras; undefined means every camera, join order. */
  cameras: readonly CameraId[] | undefined;
}

/** What the switcher can put on the program. */
export type MediaProgram =
  { kind: 'composite' } | { kind: 'camera'; cameraId: CameraId } | { kind: 'video'; uri: string };

export interface VideoProgress {
  positionMs: number;
  durationMs: number;
}

/**
 * Where the program goes besides the monitors; undefined in setups without an origin. The bridge
 * belongs to the assembly, not to one build of its media: a rebuilt pipeline sends to the same
 * bridge, whose ffmpeg keeps its RTMP publish (and the stream's timeline) going meanwhile.
 */
export interface ProgramOutput {
  bridge: ProgramBridge;
}

export interface AssemblyMediaEvents {
  cameraCandidate: [cameraId: CameraId, candidate: IceCandidateInit];
  monitorCandidate: [monitorId: string, candidate: IceCandidateInit];
  previewCandidate: [monitorId: string, candidate: IceCandidateInit];
  /** The injected video reached its end (once per cut to a video). */
  videoEnded: [uri: string];
  /**
   * The injected video on the program failed (it could not be opened, read or decoded): it will
   * show nothing more, so the program must leave it. Once per cut, instead of `videoEnded`.
   */
  videoFailed: [uri: string, failure: VideoFailure];
  videoProgress: [progress: VideoProgress];
  /** A camera's picture stopped for longer than the grace period: its tile left the mix. */
  cameraLost: [cameraId: CameraId];
  /** A lost camera's picture flows again: its tile is back. */
  cameraRecovered: [cameraId: CameraId];
  /** A camera's first picture since it offered arrived. */
  cameraFlowing: [cameraId: CameraId];
  /** The cameras whose picture is in the mix changed (in display order). */
  tilesChanged: [cameraIds: CameraId[]];
  /**
   * The media server lost this assembly's pipeline (its worker process died, or Kurento's
   * pipeline failed): every object in it is gone, the media must be built again.
   */
  failed: [reason: string];
  /** The recording stopped because it could not be written (a full disk, an I/O error). */
  recordingFailed: [failure: { type: string; description: string }];
}

/** Kurento's Error event. */
interface ErrorEvent {
  type?: string;
  description?: string;
}

export interface AssemblyMediaOptions {
  client: kurento.KurentoClient;
  assemblyId: AssemblyId;
  layout: LayoutRequest;
  output: ProgramOutput | undefined;
  /**
   * Whether the program goes to the audience from the start (the assembly is live); otherwise
   * the bridge waits for `startDelivery` (backstage: nothing reaches the edges' history).
   */
  deliver: boolean;
  /** Where RecorderEndpoint files go. */
  recordingsDir: string;
  /** Told when a recording starts and when its file is closed (the archive). */
  recordings?: RecordingSink;
  logger: Logger;
  /** How long a camera's video may stop before its tile leaves the mix (default 3 s). */
  cameraGraceMs?: number;
  /** How long a camera may take to send its first picture before its tile leaves (10 s). */
  cameraStartMs?: number;
  /** How often the injected video's position is reported (default 250 ms: 4 Hz). */
  progressIntervalMs?: number;
}

interface CameraMedia {
  id: CameraId;
  endpoint: kurento.WebRtcEndpoint;
  switchPort: kurento.HubPort;
  /** Its port on the mixer while its picture is a tile. */
  mixPort: kurento.HubPort | undefined;
  muted: boolean;
  /** Its place among the tiles when every camera is shown (the domain's stable order). */
  slot: number;
  /** Its current endpoint's video has flowed at least once. */
  flowed: boolean;
  /** Video stopped flowing for longer than the grace period. */
  lost: boolean;
  lossTimer: NodeJS.Timeout | undefined;
}

interface VideoMedia {
  uri: string;
  player: kurento.PlayerEndpoint;
  port: kurento.HubPort;
  durationMs: number;
  timer: NodeJS.Timeout | undefined;
  /** The player's Error, if one arrived (possibly while the cut to it was still under way). */
  failure: VideoFailure | undefined;
}

/** Why an injected video stopped: Kurento's Error type and description. */
export interface VideoFailure {
  type: string;
  description: string;
}

/**
 * The preview switcher and its ports; it exists only while a preview monitor does. Everything is
 * connected video only: the presenter hears the program, and the preview must not mix audio.
 */
interface PreviewBus {
  switcher: kurento.Dispatcher;
  out: kurento.HubPort;
  mixInput: kurento.HubPort;
  cameraPorts: Map<CameraId, kurento.HubPort>;
  /** The previewed clip's own player (the program's player is another one). */
  video: { uri: string; player: kurento.PlayerEndpoint; port: kurento.HubPort } | undefined;
}

/** Kurento's MediaFlowIn/OutStateChanged event. */
interface FlowEvent {
  state: 'FLOWING' | 'NOT_FLOWING';
  mediaType: kurento.MediaType;
}

const PIP_BOX = { x: 0.66, y: 0.64, width: 0.3, height: 0.3 };

export class AssemblyMedia extends EventEmitter<AssemblyMediaEvents> {
  readonly assemblyId: AssemblyId;
  readonly #options: AssemblyMediaOptions;
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #cameras = new Map<CameraId, CameraMedia>();
  readonly #monitors = new Map<string, kurento.WebRtcEndpoint>();
  readonly #previewMonitors = new Map<string, kurento.WebRtcEndpoint>();
  /**
   * Candidates that arrived before their endpoint could take them (a browser trickles as soon
   * as it has set its offer, before the answer is back), by camera or monitor id.
   */
  readonly #earlyCandidates = new Map<string, IceCandidateInit[]>();
  readonly #makeCandidate = kurento.getComplexType('IceCandidate');
  #layout: LayoutRequest;
  #pipeline: kurento.MediaPipeline | undefined;
  #switcher: kurento.Dispatcher | undefined;
  #programOut: kurento.HubPort | undefined;
  #mixInput: kurento.HubPort | undefined;
  /** The mixer's output port, which feeds the program switcher and the preview switcher. */
  #mixOut: kurento.HubPort | undefined;
  #preview: PreviewBus | undefined;
  /** What the preview shows (kept while no preview bus exists, applied when one is built). */
  #previewSource: MediaProgram = { kind: 'composite' };
  #mixer: kurento.Composite | kurento.AlphaBlending | undefined;
  #mixerKind: 'Composite' | 'AlphaBlending' | undefined;
  #bridge: ProgramBridge | undefined;
  #detachBridge: (() => void) | undefined;
  #video: VideoMedia | undefined;
  #recorder: kurento.RecorderEndpoint | undefined;
  /** The file `#recorder` writes. */
  #recordingFile: string | undefined;
  #tiles: CameraId[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #released = false;

  private constructor(options: AssemblyMediaOptions) {
    super();
    this.assemblyId = options.assemblyId;
    this.#options = options;
    this.#layout = options.layout;
    this.#log = options.logger;
    this.#graceMs = options.cameraGraceMs ?? 3000;
  }

  /** Builds the pipeline, mixer, switcher and program output; resolves once they exist. */
  static async create(options: AssemblyMediaOptions): Promise<AssemblyMedia> {
    const media = new AssemblyMedia(options);
    try {
      await media.#build();
    } catch (error) {
      await media.release();
      throw error;
    }
    return media;
  }

  /** Cameras whose picture is in the mix now, in display order. */
  get tiles(): readonly CameraId[] {
    return this.#tiles;
  }

  get bridge(): ProgramBridge | undefined {
    return this.#bridge;
  }

  async #build(): Promise<void> {
    const pipeline = await this.#options.client.create('MediaPipeline');
    this.#pipeline = pipeline;
    // Kurento raises UNEXPECTED_PIPELINE_ERROR on a pipeline that failed as a whole (the
    // engine: its worker process died); nothing in it works any more.
    pipeline.on<ErrorEvent>('Error', (event) => {
      if (this.#released || event.type !== 'UNEXPECTED_PIPELINE_ERROR') return;
      this.#log.error('the assembly media pipeline failed', { description: event.description });
      this.emit('failed', event.description ?? 'the media pipeline failed');
    });
    const switcher = await pipeline.create('Dispatcher');
    this.#switcher = switcher;
    this.#programOut = await switcher.createHubPort();
    this.#mixInput = await switcher.createHubPort();
    await this.#createMixer();
    const [mixInput, programOut] = [this.#mixInput, this.#programOut];
    await strict('the program', (done) => switcher.connect(mixInput, programOut, done));
    const output = this.#options.output;
    if (output !== undefined) {
      const bridge = output.bridge;
      const rtp = await pipeline.create('RtpEndpoint');
      await connect('the program output', programOut, rtp);
      await strict<string>('the program output', (done) => rtp.processOffer(bridge.sdp(), done));
      this.#bridge = bridge;
      // A new ffmpeg can only start publishing once it has the picture's SPS/PPS, which come
      // with a keyframe: ask for one as soon as it listens rather than wait up to a GOP.
      const onSpawned = (): void => {
        for (const delayMs of [300, 1000]) {
          const timer = setTimeout(() => {
            if (this.#released) return;
            rtp.requestKeyframe().catch((error: unknown) => {
              this.#log.debug('keyframe request for the bridge failed', { error: String(error) });
            });
          }, delayMs);
          timer.unref();
        }
      };
      bridge.on('spawned', onSpawned);
      this.#detachBridge = () => bridge.off('spawned', onSpawned);
      if (this.#options.deliver) await this.startDelivery();
    }
  }

  /** The program starts reaching the audience: the bridge publishes to the origin. */
  async startDelivery(): Promise<void> {
    if (this.#released) return;
    const bridge = this.#bridge;
    if (bridge !== undefined && bridge.state === 'idle') await bridge.start();
  }

  /** The mixer for the current layout: Composite for the grid, AlphaBlending otherwise. */
  async #createMixer(): Promise<void> {
    const pipeline = this.#required(this.#pipeline);
    const kind = this.#layout.layout === 'grid' ? 'Composite' : 'AlphaBlending';
    const old = this.#mixer;
    const mixer = await pipeline.create(kind);
    const mixOut = await mixer.createHubPort();
    // A newer connect to the switcher's mix port replaces the old mixer's output there.
    await connect('the layout', mixOut, this.#required(this.#mixInput));
    if (this.#preview !== undefined) {
      await connect('the layout', mixOut, this.#preview.mixInput, 'VIDEO');
    }
    this.#mixOut = mixOut;
    this.#mixer = mixer;
    this.#mixerKind = kind;
    for (const camera of this.#cameras.values()) camera.mixPort = undefined;
    this.#tiles = [];
    // Releasing the old hub releases its ports too (Kurento's release cascade).
    if (old !== undefined) await old.release();
  }

  /**
   * A camera's offer: creates its endpoint, connects it to its switcher port (and to the mix when
   * the layout has room for it) and answers. A camera offering again (a reloaded page, a
   * reconnected one, a retry after a failed connection) gets a new endpoint on the ports it
   * already has, so its tile keeps its place in the grid and a cut to it stays on the program.
   * `muted` is the moderator's mute, remembered by the domain across reconnections.
   */
  offerCamera(
    cameraId: CameraId,
    sdp: string,
    options: { muted?: boolean; slot?: number | undefined } = {},
  ): Promise<string> {
    // From now until the answer is out, this camera's candidates wait in the queue.
    if (!this.#earlyCandidates.has(cameraId)) this.#earlyCandidates.set(cameraId, []);
    return this.#serial(async () => {
      const pipeline = this.#required(this.#pipeline);
      const endpoint = await pipeline.create('WebRtcEndpoint');
      const existing = this.#cameras.get(cameraId);
      const camera: CameraMedia = existing ?? {
        id: cameraId,
        endpoint,
        switchPort: await this.#required(this.#switcher).createHubPort(),
        mixPort: undefined,
        muted: options.muted === true,
        slot: options.slot ?? Number.MAX_SAFE_INTEGER,
        flowed: false,
        lost: false,
        lossTimer: undefined,
      };
      const previous = existing?.endpoint;
      camera.endpoint = endpoint;
      if (options.muted !== undefined) camera.muted = options.muted;
      if (options.slot !== undefined) camera.slot = options.slot;
      // The new endpoint's picture is awaited afresh; a tile lost with the old one comes back,
      // and leaves again if no picture arrives within the start timeout.
      clearTimeout(camera.lossTimer);
      camera.flowed = false;
      camera.lost = false;
      camera.lossTimer = setTimeout(
        () => this.#markLost(camera, endpoint),
        this.#options.cameraStartMs ?? 10_000,
      );
      this.#cameras.set(cameraId, camera);
      endpoint.on<{ candidate: IceCandidateInit }>('IceCandidateFound', (event) => {
        if (camera.endpoint !== endpoint) return;
        this.emit('cameraCandidate', cameraId, plainCandidate(event.candidate));
      });
      endpoint.on<FlowEvent>('MediaFlowInStateChanged', (event) => {
        if (event.mediaType !== 'VIDEO') return;
        this.#onCameraFlow(camera, endpoint, event.state === 'FLOWING');
      });
      // A newer connect to a sink replaces the old endpoint's connection there, so the ports
      // never go without a source (the grid would reflow) before the old endpoint is released.
      for (const port of [camera.switchPort, camera.mixPort]) {
        if (port === undefined) continue;
        await connect('the camera', endpoint, port, camera.muted ? 'VIDEO' : undefined);
      }
      await this.#connectPreviewCamera(camera);
      await previous?.release().catch((error: unknown) => {
        // Gone already (its pipeline restarted under it); the new endpoint matters, not the old.
        this.#log.debug('releasing a replaced camera endpoint failed', { error: String(error) });
      });
      const answer = await this.#answer(endpoint, sdp, 'camera');
      await this.#flushCandidates(cameraId, endpoint);
      await strict('the camera', (done) => endpoint.gatherCandidates(done));
      await this.#applyLayout();
      return answer;
    });
  }

  /** A camera's trickled candidate; kept until its endpoint exists. */
  addCameraCandidate(cameraId: CameraId, candidate: IceCandidateInit): Promise<void> {
    return this.#addCandidate(cameraId, this.#cameras.get(cameraId)?.endpoint, candidate);
  }

  /** A presenter's monitor of the program: a receive-only WebRtcEndpoint behind program-out. */
  offerMonitor(monitorId: string, sdp: string): Promise<string> {
    if (!this.#earlyCandidates.has(monitorId)) this.#earlyCandidates.set(monitorId, []);
    return this.#serial(async () => {
      await this.#monitors.get(monitorId)?.release();
      const endpoint = await this.#required(this.#pipeline).create('WebRtcEndpoint');
      this.#monitors.set(monitorId, endpoint);
      endpoint.on<{ candidate: IceCandidateInit }>('IceCandidateFound', (event) => {
        this.emit('monitorCandidate', monitorId, plainCandidate(event.candidate));
      });
      await connect('the monitor', this.#required(this.#programOut), endpoint);
      const answer = await this.#answer(endpoint, sdp, 'monitor');
      await this.#flushCandidates(monitorId, endpoint);
      await strict('the monitor', (done) => endpoint.gatherCandidates(done));
      return answer;
    });
  }

  addMonitorCandidate(monitorId: string, candidate: IceCandidateInit): Promise<void> {
    return this.#addCandidate(monitorId, this.#monitors.get(monitorId), candidate);
  }

  removeMonitor(monitorId: string): Promise<void> {
    this.#earlyCandidates.delete(monitorId);
    return this.#serial(async () => {
      const endpoint = this.#monitors.get(monitorId);
      this.#monitors.delete(monitorId);
      await endpoint?.release();
    });
  }

  /**
   * A studio's preview monitor: a receive-only, video-only WebRtcEndpoint behind the preview
   * switcher, which is built for the first one.
   */
  offerPreviewMonitor(monitorId: string, sdp: string): Promise<string> {
    const key = previewKey(monitorId);
    if (!this.#earlyCandidates.has(key)) this.#earlyCandidates.set(key, []);
    return this.#serial(async () => {
      await this.#previewMonitors.get(monitorId)?.release();
      this.#previewMonitors.delete(monitorId);
      const bus = await this.#ensurePreviewBus();
      const endpoint = await this.#required(this.#pipeline).create('WebRtcEndpoint');
      this.#previewMonitors.set(monitorId, endpoint);
      endpoint.on<{ candidate: IceCandidateInit }>('IceCandidateFound', (event) => {
        this.emit('previewCandidate', monitorId, plainCandidate(event.candidate));
      });
      await connect('the preview monitor', bus.out, endpoint, 'VIDEO');
      const answer = await this.#answer(endpoint, sdp, 'preview monitor');
      await this.#flushCandidates(key, endpoint);
      await strict('the preview monitor', (done) => endpoint.gatherCandidates(done));
      return answer;
    });
  }

  addPreviewCandidate(monitorId: string, candidate: IceCandidateInit): Promise<void> {
    return this.#addCandidate(
      previewKey(monitorId),
      this.#previewMonitors.get(monitorId),
      candidate,
    );
  }

  /** A preview monitor goes; the preview switcher goes with the last one (nobody watches it). */
  removePreviewMonitor(monitorId: string): Promise<void> {
    this.#earlyCandidates.delete(previewKey(monitorId));
    return this.#serial(async () => {
      const endpoint = this.#previewMonitors.get(monitorId);
      if (endpoint === undefined) return;
      this.#previewMonitors.delete(monitorId);
      await endpoint.release();
      if (this.#previewMonitors.size === 0) await this.#releasePreviewBus();
    });
  }

  /**
   * Puts `source` on the preview. A camera without media yet (it has not offered since a
   * rebuild) shows as soon as it does; a clip plays from its beginning on a player of its own.
   */
  setPreview(source: MediaProgram): Promise<void> {
    return this.#serial(async () => {
      this.#previewSource = source;
      await this.#applyPreview();
    });
  }

  /** The camera's page is gone for good: its endpoint and ports are released, its tile reflows. */
  removeCamera(cameraId: CameraId): Promise<void> {
    this.#earlyCandidates.delete(cameraId);
    return this.#serial(async () => {
      await this.#dropCamera(cameraId);
      await this.#applyLayout();
    });
  }

  /** Mutes a camera's microphone in the mix and in the program (its picture stays). */
  muteCamera(cameraId: CameraId, muted: boolean): Promise<void> {
    return this.#serial(async () => {
      const camera = this.#cameras.get(cameraId);
      if (camera === undefined || camera.muted === muted) return;
      for (const port of [camera.switchPort, camera.mixPort]) {
        if (port === undefined) continue;
        if (muted) await disconnect('the mute', camera.endpoint, port, 'AUDIO');
        else await connect('the unmute', camera.endpoint, port, 'AUDIO');
      }
      // Only once the media server did it: a refused mute leaves the camera as it was.
      camera.muted = muted;
    });
  }

  /** Changes the mix: grid, spotlight or picture-in-picture, of which cameras, how many. */
  setLayout(layout: LayoutRequest): Promise<void> {
    return this.#serial(async () => {
      const kindChanged = (layout.layout === 'grid') !== (this.#layout.layout === 'grid');
      this.#layout = layout;
      if (kindChanged) await this.#createMixer();
      await this.#applyLayout();
    });
  }

  /** Puts `program` on the program output; a video starts playing from its beginning. */
  cutTo(program: MediaProgram): Promise<void> {
    return this.#serial(async () => {
      const switcher = this.#required(this.#switcher);
      const programOut = this.#required(this.#programOut);
      const previousVideo = this.#video;
      // Strict calls: a cut the media server refuses must fail, not be acknowledged as done.
      switch (program.kind) {
        case 'composite': {
          const mix = this.#required(this.#mixInput);
          await strict('the cut', (done) => switcher.connect(mix, programOut, done));
          break;
        }
        case 'camera': {
          const camera = this.#cameras.get(program.cameraId);
          if (camera === undefined) throw new Error(`camera ${program.cameraId} has no media`);
          await strict('the cut', (done) => switcher.connect(camera.switchPort, programOut, done));
          break;
        }
        case 'video': {
          const video = await this.#startVideo(program.uri);
          // A player that failed before it was on the program (a file that is no video, a URL
          // answering 404) never goes on: the program stays where it was and the cut is refused.
          if (video.failure !== undefined) {
            await this.#stopVideo(video);
            throw new VideoFailedError(video.failure.type, video.failure.description);
          }
          this.#video = video;
          try {
            await strict('the cut', (done) => switcher.connect(video.port, programOut, done));
          } catch (error) {
            // The program is still on what it showed: that stays the current video, if any.
            this.#video = previousVideo;
            await this.#stopVideo(video);
            throw error;
          }
          break;
        }
      }
      // The old clip stops only after the switcher left it, so the program never shows a gap.
      if (previousVideo !== undefined) {
        if (this.#video === previousVideo) this.#video = undefined;
        await this.#stopVideo(previousVideo);
      }
    });
  }

  /** Starts or stops archiving the program into `recordingsDir`. */
  setRecording(on: boolean): Promise<string | undefined> {
    return this.#serial(async () => {
      if (on && this.#recorder === undefined) {
        mkdirSync(this.#options.recordingsDir, { recursive: true });
        const file = join(
          this.#options.recordingsDir,
          `${this.assemblyId}-${new Date().toISOString().replace(/[:.]/g, '-')}.webm`,
        );
        const recorder = await this.#required(this.#pipeline).create('RecorderEndpoint', {
          uri: pathToFileURL(file).href,
          mediaProfile: 'WEBM',
        });
        // A recording that cannot be written (disk full, I/O error) stops; the program goes on.
        recorder.on<ErrorEvent>('Error', (event) => {
          if (this.#recorder !== recorder || this.#released) return;
          const failure = {
            type: event.type ?? 'RESOURCE_ERROR_WRITE',
            description: event.description ?? 'the recording could not be written',
          };
          this.#log.error('recording failed', { file, ...failure });
          void this.#serial(async () => {
            if (this.#recorder !== recorder) return;
            this.#recorder = undefined;
            this.#recordingFile = undefined;
            await recorder.stopAndWait().catch(() => undefined);
            await recorder.release();
            // What was written before the failure is archived too, marked as cut short.
            this.#options.recordings?.recordingFinished(file, failure);
          }).catch((error: unknown) => {
            this.#log.warn('releasing the failed recorder failed', { error: String(error) });
          });
          this.emit('recordingFailed', failure);
        });
        const programOut = this.#required(this.#programOut);
        // Strict: a recording the server refuses to start must not show as recording.
        try {
          await strict('the recording', (done) => programOut.connect(recorder, done));
          await strict('the recording', (done) => recorder.record(done));
        } catch (error) {
          // (kurento-client's release logs its own errors and never rejects.)
          await recorder.release();
          throw error;
        }
        this.#recorder = recorder;
        this.#recordingFile = file;
        this.#options.recordings?.recordingStarted(this.assemblyId, file);
        return file;
      }
      if (!on && this.#recorder !== undefined) {
        const recorder = this.#recorder;
        const file = this.#recordingFile;
        this.#recorder = undefined;
        this.#recordingFile = undefined;
        try {
          await recorder.stopAndWait();
          await recorder.release();
        } finally {
          if (file !== undefined) this.#options.recordings?.recordingFinished(file);
        }
      }
      return undefined;
    });
  }

  /**
   * Releases every media object. Safe to call twice. The bridge is the assembly's and goes on
   * (the next build sends to it). The pipeline's release is waited for at most `releaseWaitMs`:
   * after a media server restart or a dead pipeline nobody answers it, and the rebuild must not
   * wait for kurento-client's 20 s request timeout.
   */
  async release(options: { releaseWaitMs?: number } = {}): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    for (const camera of this.#cameras.values()) clearTimeout(camera.lossTimer);
    clearInterval(this.#video?.timer);
    this.#cameras.clear();
    this.#monitors.clear();
    this.#previewMonitors.clear();
    this.#preview = undefined;
    this.#earlyCandidates.clear();
    this.removeAllListeners();
    this.#detachBridge?.();
    const pipeline = this.#pipeline;
    if (pipeline === undefined) return;
    // Releasing the pipeline releases everything in it (Kurento's release cascade).
    const released = pipeline.release().catch((error: unknown) => {
      // After a media server drop the pipeline may be gone already; nothing is left to free.
      this.#log.debug('releasing the pipeline failed', { error: String(error) });
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.releaseWaitMs ?? 5000);
    });
    await Promise.race([released, waited]);
    clearTimeout(timer);
    // A recorder released with its pipeline (a rebuild, a shutdown) wrote what it could; the
    // archive lists that much.
    const file = this.#recordingFile;
    this.#recorder = undefined;
    this.#recordingFile = undefined;
    if (file !== undefined) this.#options.recordings?.recordingFinished(file);
  }

  /** The preview switcher, built with a port for the mix and for every camera. */
  async #ensurePreviewBus(): Promise<PreviewBus> {
    if (this.#preview !== undefined) return this.#preview;
    const switcher = await this.#required(this.#pipeline).create('Dispatcher');
    const bus: PreviewBus = {
      switcher,
      out: await switcher.createHubPort(),
      mixInput: await switcher.createHubPort(),
      cameraPorts: new Map(),
      video: undefined,
    };
    this.#preview = bus;
    await connect('the preview', this.#required(this.#mixOut), bus.mixInput, 'VIDEO');
    // The mix goes through first, as on the program switcher: the engine fixes a Dispatcher
    // output's picture size by the first source it carries, so the preview's frame is the
    // program's whatever is previewed first.
    await strict('the preview', (done) => switcher.connect(bus.mixInput, bus.out, done));
    for (const camera of this.#cameras.values()) await this.#connectPreviewCamera(camera);
    await this.#applyPreview();
    return bus;
  }

  async #releasePreviewBus(): Promise<void> {
    const bus = this.#preview;
    if (bus === undefined) return;
    this.#preview = undefined;
    await bus.video?.player.release();
    // Releasing the switcher releases its ports (Kurento's release cascade).
    await bus.switcher.release();
  }

  /** Connects a camera's (current) endpoint to its port on the preview switcher, if there is one. */
  async #connectPreviewCamera(camera: CameraMedia): Promise<void> {
    const bus = this.#preview;
    if (bus === undefined) return;
    let port = bus.cameraPorts.get(camera.id);
    if (port === undefined) {
      port = await bus.switcher.createHubPort();
      bus.cameraPorts.set(camera.id, port);
    }
    // A newer connect to the port replaces a replaced endpoint's connection there.
    await connect('the preview', camera.endpoint, port, 'VIDEO');
    const source = this.#previewSource;
    if (source.kind === 'camera' && source.cameraId === camera.id) {
      const cameraPort = port;
      await strict('the preview', (done) => bus.switcher.connect(cameraPort, bus.out, done));
    }
  }

  /** Makes the preview switcher show `#previewSource`; nothing to do without a preview bus. */
  async #applyPreview(): Promise<void> {
    const bus = this.#preview;
    if (bus === undefined) return;
    const source = this.#previewSource;
    const previousVideo = bus.video;
    switch (source.kind) {
      case 'composite':
        await strict('the preview', (done) => bus.switcher.connect(bus.mixInput, bus.out, done));
        break;
      case 'camera': {
        // A camera that has not offered yet is connected when it does (#connectPreviewCamera).
        const port = bus.cameraPorts.get(source.cameraId);
        if (port !== undefined) {
          await strict('the preview', (done) => bus.switcher.connect(port, bus.out, done));
        }
        break;
      }
      case 'video': {
        // A clip put on the preview (again) plays from its beginning.
        const player = await this.#required(this.#pipeline).create('PlayerEndpoint', {
          uri: source.uri,
        });
        const port = await bus.switcher.createHubPort();
        await connect('the preview', player, port, 'VIDEO');
        player.on<{ description?: string }>('Error', (event) => {
          this.#log.warn('previewed video failed', {
            uri: source.uri,
            description: event.description,
          });
        });
        await strict('the preview', (done) => player.play(done));
        bus.video = { uri: source.uri, player, port };
        await strict('the preview', (done) => bus.switcher.connect(port, bus.out, done));
        break;
      }
    }
    // The old clip stops only after the switcher left it, as on the program.
    if (previousVideo !== undefined) {
      if (bus.video === previousVideo) bus.video = undefined;
      await previousVideo.port.release();
      await previousVideo.player.release();
    }
  }

  /**
   * The endpoint's answer to `sdp`. An offer the engine refuses is an SdpRejectedError naming
   * the reason, never an empty answer: kurento-client 7 resolves `undefined` for some refusals.
   */
  async #answer(endpoint: kurento.WebRtcEndpoint, sdp: string, what: string): Promise<string> {
    let answer: string | undefined;
    try {
      answer = await endpoint.processOffer(sdp);
    } catch (error) {
      // Kurento's SDP errors are 40200 to 40299; anything else (a released pipeline) stays as is.
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number' && code >= 40200 && code < 40300) {
        throw new SdpRejectedError(what, (error as Error).message);
      }
      throw error;
    }
    if (typeof answer !== 'string' || answer.trim() === '') {
      throw new SdpRejectedError(what, 'it answered with no SDP');
    }
    return answer;
  }

  async #startVideo(uri: string): Promise<VideoMedia> {
    const pipeline = this.#required(this.#pipeline);
    const player = await pipeline.create('PlayerEndpoint', { uri });
    const port = await this.#required(this.#switcher).createHubPort();
    await connect('the video', player, port);
    const video: VideoMedia = {
      uri,
      player,
      port,
      durationMs: 0,
      timer: undefined,
      failure: undefined,
    };
    let ended = false;
    player.on('EndOfStream', () => {
      if (ended || this.#video !== video) return;
      ended = true;
      clearInterval(video.timer);
      this.emit('videoProgress', { positionMs: video.durationMs, durationMs: video.durationMs });
      this.emit('videoEnded', uri);
    });
    player.on<ErrorEvent>('Error', (event) => {
      this.#log.warn('injected video failed', { uri, description: event.description });
      if (ended) return;
      ended = true;
      clearInterval(video.timer);
      // Kept even before the video is on the program: the Error often arrives while the cut to
      // it is still under way, and that cut must then be refused (see cutTo).
      video.failure = {
        type: event.type ?? 'UNEXPECTED_ELEMENT_ERROR',
        description: withoutUri(event.description ?? 'the video could not be played', uri),
      };
      if (this.#video === video) this.emit('videoFailed', uri, video.failure);
    });
    try {
      await strict('the video', (done) => player.play(done));
    } catch (error) {
      await this.#stopVideo(video);
      throw error;
    }
    try {
      video.durationMs = (await player.getVideoInfo()).duration;
    } catch (error) {
      // A live or unseekable source has no duration; progress then reports positions only.
      this.#log.debug('no video info', { uri, error: String(error) });
    }
    video.timer = setInterval(() => {
      player
        .getPosition((error, position) => {
          if (error !== null || position === undefined || this.#video !== video || ended) return;
          this.emit('videoProgress', { positionMs: position, durationMs: video.durationMs });
        })
        .catch(() => undefined);
    }, this.#options.progressIntervalMs ?? 250);
    return video;
  }

  async #stopVideo(video: VideoMedia): Promise<void> {
    clearInterval(video.timer);
    await video.port.release();
    await video.player.release();
  }

  /** Which cameras are tiles: the moderator's subset (or everyone), live ones, up to the limit. */
  #wantedTiles(): CameraId[] {
    // Every camera, in the domain's stable order: a rebuild's offers arrive in any order.
    const order =
      this.#layout.cameras ??
      [...this.#cameras.values()].sort((a, b) => a.slot - b.slot).map((camera) => camera.id);
    const limit =
      this.#layout.layout === 'spotlight'
        ? 1
        : this.#layout.layout === 'pip'
          ? 2
          : this.#layout.maxTiles;
    return order
      .filter((id) => {
        const camera = this.#cameras.get(id);
        return camera !== undefined && !camera.lost;
      })
      .slice(0, limit);
  }

  /**
   * Connects the wanted cameras to mixer ports, in the wanted order, and takes the others out.
   * A Composite places tiles in the order their ports were created (the engine and KMS alike),
   * so a camera leaving the mix gets its port released (the grid reflows at once), one joining
   * gets a new port after the others, and when the order changes (the moderator reorders, a
   * lost camera returns to its place) the ports from the first one out of place onwards are
   * released and created again in order; the tiles before it keep their ports and never blink.
   * AlphaBlending places ports explicitly (master, inset), so there every port is kept.
   */
  async #applyLayout(): Promise<void> {
    const mixer = this.#required(this.#mixer);
    const wanted = this.#wantedTiles();
    // Cameras with a port now, in creation order, that keep a tile.
    const kept = this.#tiles.filter(
      (id) => wanted.includes(id) && this.#cameras.get(id)?.mixPort !== undefined,
    );
    let keep = new Set(kept);
    if (this.#mixerKind === 'Composite') {
      let inPlace = 0;
      while (inPlace < kept.length && kept[inPlace] === wanted[inPlace]) inPlace += 1;
      keep = new Set(wanted.slice(0, inPlace));
    }
    for (const camera of this.#cameras.values()) {
      if (!keep.has(camera.id) && camera.mixPort !== undefined) {
        const port = camera.mixPort;
        camera.mixPort = undefined;
        await disconnect('the layout', camera.endpoint, port);
        await port.release();
      }
    }
    for (const id of wanted) {
      const camera = this.#cameras.get(id);
      if (camera === undefined || camera.mixPort !== undefined) continue;
      const port = await mixer.createHubPort();
      camera.mixPort = port;
      await connect('the layout', camera.endpoint, port, camera.muted ? 'VIDEO' : undefined);
    }
    if (this.#mixerKind === 'AlphaBlending') {
      const alpha = mixer as kurento.AlphaBlending;
      const [main, inset] = wanted.map((id) => this.#cameras.get(id)?.mixPort);
      if (main !== undefined) await strict('the layout', (done) => alpha.setMaster(main, 0, done));
      if (inset !== undefined) {
        const box = PIP_BOX;
        await strict('the layout', (done) =>
          alpha.setPortProperties(box.x, box.y, 1, box.width, box.height, inset, done),
        );
      }
    }
    if (wanted.join() !== this.#tiles.join()) {
      this.#tiles = wanted;
      this.emit('tilesChanged', [...wanted]);
    }
  }

  /**
   * A camera's video stopped or started again. A short stall (a keyframe wait, a network hiccup)
   * is ignored; one longer than the grace period takes the tile out so the grid reflows instead
   * of showing a frozen picture, and flowing video brings it back.
   */
  #onCameraFlow(camera: CameraMedia, endpoint: kurento.WebRtcEndpoint, flowing: boolean): void {
    // Events of an endpoint that a newer offer replaced say nothing about the camera now.
    if (this.#released || this.#cameras.get(camera.id) !== camera) return;
    if (camera.endpoint !== endpoint) return;
    // Before its first picture only the start timeout may take the tile out.
    if (!flowing && !camera.flowed) return;
    clearTimeout(camera.lossTimer);
    camera.lossTimer = undefined;
    if (flowing) {
      if (!camera.flowed) {
        camera.flowed = true;
        this.emit('cameraFlowing', camera.id);
      }
      if (!camera.lost) return;
      camera.lost = false;
      this.#log.info('camera picture is back', { camera: camera.id });
      void this.#serial(() => this.#applyLayout()).then(
        () => this.emit('cameraRecovered', camera.id),
        (error: unknown) => this.#log.warn('restoring a tile failed', { error: String(error) }),
      );
      return;
    }
    camera.lossTimer = setTimeout(() => this.#markLost(camera, endpoint), this.#graceMs);
  }

  /** The camera's picture stopped (or never started): its tile leaves the mix. */
  #markLost(camera: CameraMedia, endpoint: kurento.WebRtcEndpoint): void {
    camera.lossTimer = undefined;
    if (this.#released || this.#cameras.get(camera.id) !== camera) return;
    if (camera.endpoint !== endpoint || camera.lost) return;
    camera.lost = true;
    this.#log.info('camera picture lost; tile leaves the mix', {
      camera: camera.id,
      everFlowed: camera.flowed,
    });
    void this.#serial(() => this.#applyLayout()).then(
      () => this.emit('cameraLost', camera.id),
      (error: unknown) => this.#log.warn('removing a tile failed', { error: String(error) }),
    );
  }

  async #dropCamera(cameraId: CameraId): Promise<void> {
    const camera = this.#cameras.get(cameraId);
    if (camera === undefined) return;
    this.#cameras.delete(cameraId);
    clearTimeout(camera.lossTimer);
    await camera.mixPort?.release();
    await camera.switchPort.release();
    const previewPort = this.#preview?.cameraPorts.get(cameraId);
    this.#preview?.cameraPorts.delete(cameraId);
    await previewPort?.release();
    await camera.endpoint.release();
  }

  async #addCandidate(
    key: string,
    endpoint: kurento.WebRtcEndpoint | undefined,
    candidate: IceCandidateInit,
  ): Promise<void> {
    if (endpoint === undefined || this.#earlyCandidates.has(key)) {
      const queue = this.#earlyCandidates.get(key) ?? [];
      // A page never needs more than a few dozen; the cap keeps a misbehaving one bounded.
      if (queue.length < 100) queue.push(candidate);
      this.#earlyCandidates.set(key, queue);
      return;
    }
    const ice = this.#makeCandidate(candidate);
    await strict('the ICE candidate', (done) => endpoint.addIceCandidate(ice, done));
  }

  async #flushCandidates(key: string, endpoint: kurento.WebRtcEndpoint): Promise<void> {
    const queue = this.#earlyCandidates.get(key) ?? [];
    this.#earlyCandidates.delete(key);
    for (const candidate of queue) {
      const ice = this.#makeCandidate(candidate);
      // Its sender was answered when it was queued; one bad candidate must not fail the offer.
      await strict('the ICE candidate', (done) => endpoint.addIceCandidate(ice, done)).catch(
        (error: unknown) =>
          this.#log.warn('a queued ICE candidate was refused', {
            candidate: candidate.candidate.slice(0, 100),
            error: String(error),
          }),
      );
    }
  }

  /** Runs graph changes one after another; a failure rejects its own caller only. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#released) throw new MediaReleasedError(this.assemblyId);
      return work();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #required<T>(value: T | undefined): T {
    if (value === undefined)
      throw new Error(`the media of assembly ${this.assemblyId} is not built`);
    return value;
  }
}

/** Preview monitors queue their early candidates apart from the same page's program monitor. */
/**
 * The engine's description without the ` (uri)` it appends: the crew knows which video it cut
 * to, and a library file's URI would show the server's folders.
 */
function withoutUri(description: string, uri: string): string {
  const suffix = ` (${uri})`;
  return description.endsWith(suffix) ? description.slice(0, -suffix.length) : description;
}

function previewKey(monitorId: string): string {
  return `preview:${monitorId}`;
}

/** Kurento's IceCandidate as a plain object the pages can hand to addIceCandidate. */
function plainCandidate(candidate: IceCandidateInit): IceCandidateInit {
  return {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid,
    sdpMLineIndex: candidate.sdpMLineIndex,
  };
}
