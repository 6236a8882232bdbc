/**
 * What is happening in each assembly right now: who is connected in which role, what the program
 * shows, the live layout, reactions, and the assembly's media (`AssemblyMedia`, the Kurento
 * objects). Kept in memory: people reconnect and media is rebuilt after a media server restart.
 *
 * The domain decides (what is on the program, where to cut back when a clip ends, which camera is
 * on air); `AssemblyMedia` carries it out and reports what happened in media. The signaling layer
 * only calls these methods and forwards their events.
 */
import { EventEmitter } from 'node:events';
import type { Role } from '../auth/roles.js';
import type {
  AssemblyMedia,
  IceCandidateInit,
  LayoutRequest,
  MediaProgram,
  VideoFailure,
  VideoProgress,
} from '../media/AssemblyMedia.js';
import type { Logger } from '../log.js';
import type { MetricsRegistry } from '../metrics/MetricsRegistry.js';
import {
  InvalidArgumentError,
  MediaReleasedError,
  MediaUnavailableError,
  NotLiveError,
} from './errors.js';
import {
  newCameraId,
  newParticipantId,
  newViewerId,
  type AssemblyId,
  type CameraId,
  type CameraKey,
  type InviteId,
  type ParticipantId,
  type ViewerId,
} from './ids.js';
import { Reactions, type ReactionSecond } from './Reactions.js';
import type { Phase } from '../store/AssemblyStore.js';
import { INVITE_LABEL_RULE, isInviteLabel } from '../auth/inviteLabel.js';

/**
 * A camera name as people type it, trimmed: the same rule as an invite link's label (a camera
 * joins under its link's label, and a rename gives it another such name).
 */
export function checkCameraName(value: unknown, what: string): string {
  const name = typeof value === 'string' ? value.trim() : value;
  if (!isInviteLabel(name)) {
    throw new InvalidArgumentError(`${what} must be ${INVITE_LABEL_RULE}, such as "Room 12"`);
  }
  return name;
}

export interface Participant {
  id: ParticipantId;
  role: Role;
  /** Set for cameras: the id their tile and program cuts use. */
  cameraId: CameraId | undefined;
  viewerId: ViewerId | undefined;
  joinedAt: string;
  /** Set for cameras that joined with an invite link's token: the link the panel may revoke. */
  inviteId: InviteId | undefined;
}

/**
 * Whether a camera's picture reaches the server: waiting (joined, no picture yet), live, or
 * none (it never started within the start timeout, or it stopped): then it is out of the mix.
 */
export type PictureState = 'waiting' | 'live' | 'none';

/**
 * A camera as the whole crew sees it, owned by the server so that every page agrees: its name,
 * its place in the grid, the moderator's mute and whether its picture arrives. It belongs to
 * the camera (its id), not to a connection, and outlives reconnects, reloads and media rebuilds.
 */
export interface CameraIdentity {
  cameraId: CameraId;
  /** 1, 2, 3… in the order cameras first joined: the grid's order, whatever the media does. */
  slot: number;
  name: string;
  muted: boolean;
  picture: PictureState;
  /** The key its page reclaims it with; never sent to anyone. */
  key: CameraKey | undefined;
}

/** A participant as pages see it: a camera carries its identity (without its key). */
export interface ParticipantView extends Participant {
  name: string | undefined;
  slot: number | undefined;
  muted: boolean | undefined;
  picture: PictureState | undefined;
}

/** How long a camera may take to send its first picture before it leaves the mix, flagged. */
export const CAMERA_START_TIMEOUT_MS = 10_000;

/** What the program shows. A video keeps its library name (for people) and its URI (for media). */
export type ProgramSource =
  | { kind: 'composite' }
  | { kind: 'camera'; cameraId: CameraId }
  | { kind: 'video'; name: string; uri: string };

/** The `source` label of montage_program_source. */
export function sourceLabel(source: ProgramSource): string {
  switch (source.kind) {
    case 'composite':
      return 'composite';
    case 'camera':
      return `camera:${source.cameraId}`;
    case 'video':
      return 'video';
  }
}

function mediaProgram(source: ProgramSource): MediaProgram {
  return source.kind === 'video' ? { kind: 'video', uri: source.uri } : source;
}

/** Builds the media of one assembly; supplied by the app (server/media/MediaBackend.ts). */
export interface MediaBackend {
  /** True while a media server session is usable. */
  readonly available: boolean;
  /** `deliver`: the program goes to the audience now (live); otherwise at `startDelivery`. */
  build(
    assemblyId: AssemblyId,
    layout: LayoutRequest,
    options: { deliver: boolean },
  ): Promise<AssemblyMedia>;
  /** The assembly is over: what outlives its media builds (the program's delivery) stops. */
  endProgram(assemblyId: AssemblyId): Promise<void>;
}

/**
 * Who is listed individually: cameras (the crew's panel shows each one) and the crew. Viewers are
 * only counted: thousands join a whole-school assembly, and listing or announcing each one to
 * everyone costs the square of the audience.
 */
export function isListed(role: Role): boolean {
  return role !== 'viewer';
}

/** How often, at most, the viewer count goes out (and only when it changed). */
export const VIEWER_COUNT_INTERVAL_MS = 1000;

export interface LiveAssemblyEvents {
  /** A camera or crew member connected (viewers are counted, not announced: see `viewers`). */
  joined: [participant: Participant];
  /** A camera or crew member's connection ended. */
  left: [participant: Participant];
  programChanged: [source: ProgramSource];
  /** Position of the injected video on the program (4 Hz while one plays). */
  progress: [progress: VideoProgress];
  cameraCandidate: [participant: ParticipantId, candidate: IceCandidateInit];
  monitorCandidate: [participant: ParticipantId, candidate: IceCandidateInit];
  /** The assembly's preview (the studio's next source, shown by the preview monitors) changed. */
  previewChanged: [source: ProgramSource];
  previewCandidate: [participant: ParticipantId, candidate: IceCandidateInit];
  /** The cameras whose picture is in the composite changed (in display order). */
  tilesChanged: [cameraIds: CameraId[]];
  /** Whether a camera's picture is on the program now (in the mix, or cut to alone). */
  onAir: [participant: ParticipantId, onAir: boolean];
  /** Viewers connected: at most once a second, only when the figure changed. */
  viewers: [count: number];
  /** The last second's reactions, and the assembly's totals so far. */
  reactions: [counts: Record<string, number>, totals: Record<string, number>];
  /** The last second's reactions by the second of program time they were sent at (stored). */
  reactionSeconds: [seconds: ReactionSecond[]];
  /** A moderator removed this participant: the transport must disconnect it. */
  removed: [participant: ParticipantId];
  /**
   * A newer connection with the same camera key took this camera over (the page reconnected
   * before the server saw its old connection drop): the transport must close the old one.
   */
  replaced: [participant: ParticipantId];
  /** The media was rebuilt (media server restart): cameras and monitors must offer again. */
  mediaReset: [];
  /** A camera's name, mute or picture state changed (it may be connected or not). */
  cameraChanged: [camera: CameraIdentity, participant: Participant | undefined];
  /** The live choice of cameras in the layout changed (undefined: every camera). */
  layoutChanged: [cameras: readonly CameraId[] | undefined];
  /** The layout (kind, tile count or choice of cameras) changed. */
  layoutSet: [layout: LayoutRequest];
  /** The assembly went live or ended. */
  phaseChanged: [phase: Phase];
  /** The recording stopped because it could not be written; the program goes on. */
  recordingFailed: [failure: { type: string; description: string }];
  /**
   * The video on the program failed while it played (its player's Error); the program went
   * back to `back`, the source before the video.
   */
  videoFailed: [failure: VideoFailure & { source: ProgramSource; back: ProgramSource }];
}

/** Where the assembly's media stands, for /healthz and operators. */
export interface MediaHealth {
  state: 'none' | 'building' | 'running' | 'rebuilding';
  /** Why the media was last rebuilt or could not be built, if it was. */
  lastError: string | undefined;
  /** How many times it was rebuilt after a failure or a media server restart. */
  rebuilds: number;
}

/** Delays between attempts to build an assembly's media again after a failure. */
const REBUILD_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];

export interface LiveAssemblyOptions {
  metrics: MetricsRegistry;
  media: MediaBackend | undefined;
  layout: LayoutRequest;
  recording: boolean;
  phase: Phase;
  logger: Logger;
  /** How long a camera whose socket dropped keeps its tile (default 3 s). */
  cameraGraceMs?: number;
  /** How long a joined camera may take to send a picture (default CAMERA_START_TIMEOUT_MS). */
  cameraStartMs?: number;
  /**
   * Where the keys of cameras a moderator removed are kept; LiveAssemblies passes one set per
   * assembly, so that the removal outlives this live session (see `isRemovedCamera`).
   */
  removedCameraKeys?: Set<CameraKey>;
}

/** A camera whose connection dropped, during its grace period. */
interface DepartedCamera {
  /** The key its page may reclaim it with; undefined when it may not (a moderator removed it). */
  key: CameraKey | undefined;
  timer: NodeJS.Timeout;
}

export class LiveAssembly extends EventEmitter<LiveAssemblyEvents> {
  readonly id: AssemblyId;
  /** Everyone connected, viewers included: found by id in O(1) when they leave. */
  readonly #participants = new Map<ParticipantId, Participant>();
  /** Cameras and crew (`isListed`), in the order they joined: what presence lists. */
  readonly #listed = new Map<ParticipantId, Participant>();
  /** Connected cameras by camera id. */
  readonly #cameras = new Map<CameraId, Participant>();
  /** Connections per role, kept on join and leave so that no count scans the participants. */
  readonly #counts = new Map<Role, number>();
  /** The viewer count last emitted, so that an unchanged figure is not sent again. */
  #viewersSent = 0;
  readonly #metrics: MetricsRegistry;
  readonly #backend: MediaBackend | undefined;
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #reactions = new Reactions();
  readonly #tick: NodeJS.Timeout;
  /** Cameras whose connection dropped, until their grace period ends (by camera id). */
  readonly #departed = new Map<CameraId, DepartedCamera>();
  /** The camera key each connected camera joined with. Never sent to anyone. */
  readonly #cameraKeys = new Map<ParticipantId, CameraKey>();
  /** Every camera that ever joined, by id: names, places, mutes (see CameraIdentity). */
  readonly #identities = new Map<CameraId, CameraIdentity>();
  #nextSlot = 1;
  /** Cameras joined whose first picture is awaited, with the timer that flags them. */
  readonly #startTimers = new Map<CameraId, NodeJS.Timeout>();
  readonly #startMs: number;
  #phase: Phase;
  /** Keys of cameras a moderator removed: their pages may not come back (see removeCamera). */
  readonly #removedKeys: Set<CameraKey>;
  #program: ProgramSource = { kind: 'composite' };
  /**
   * What the preview shows: one preview bus per assembly, shared by every studio. It is kept
   * across media rebuilds (cameras offer again under the same ids; a clip plays again).
   */
  #preview: ProgramSource = { kind: 'composite' };
  /** Where the program returns when an injected video ends: the source before the video. */
  #beforeVideo: ProgramSource = { kind: 'composite' };
  /** The cut under way, if any: a video can end or fail before its cut has returned. */
  #cutting: Promise<void> | undefined;
  #layout: LayoutRequest;
  #recording: boolean;
  #media: AssemblyMedia | undefined;
  #building: Promise<AssemblyMedia> | undefined;
  /** Increments on every rebuild so a late result of an old build is discarded. */
  #generation = 0;
  readonly #onAir = new Map<ParticipantId, boolean>();
  #closed = false;
  #rebuilding = false;
  #rebuilds = 0;
  #lastMediaError: string | undefined;

  constructor(id: AssemblyId, options: LiveAssemblyOptions) {
    super();
    this.id = id;
    this.#metrics = options.metrics;
    this.#backend = options.media;
    this.#layout = options.layout;
    this.#recording = options.recording;
    this.#log = options.logger.child({ assembly: id });
    this.#graceMs = options.cameraGraceMs ?? 3000;
    this.#startMs = options.cameraStartMs ?? CAMERA_START_TIMEOUT_MS;
    this.#phase = options.phase;
    this.#removedKeys = options.removedCameraKeys ?? new Set();
    this.#updateCounts();
    this.#updateProgramMetric();
    // Reactions and the viewer count go out once a second per assembly, however many viewers
    // press buttons or come and go.
    this.#tick = setInterval(() => {
      const counts = this.#reactions.flush();
      if (counts !== undefined) this.emit('reactions', counts, this.#reactions.totals);
      const seconds = this.#reactions.flushTimeline();
      if (seconds.length > 0) this.emit('reactionSeconds', seconds);
      const viewers = this.viewerCount;
      if (viewers !== this.#viewersSent) {
        this.#viewersSent = viewers;
        this.emit('viewers', viewers);
      }
    }, VIEWER_COUNT_INTERVAL_MS);
    this.#tick.unref();
  }

  get program(): ProgramSource {
    return this.#program;
  }

  get preview(): ProgramSource {
    return this.#preview;
  }

  /** The cameras in the composite now, in display order (empty while no media is built). */
  get tiles(): readonly CameraId[] {
    return this.#media?.tiles ?? [];
  }

  /**
   * The cameras and crew connected, in the order they joined. Viewers are not listed (there may
   * be thousands): `viewerCount` counts them.
   */
  get participants(): Participant[] {
    return [...this.#listed.values()];
  }

  get isEmpty(): boolean {
    return this.#participants.size === 0;
  }

  get media(): AssemblyMedia | undefined {
    return this.#media;
  }

  get mediaHealth(): MediaHealth {
    const state =
      this.#media !== undefined
        ? 'running'
        : this.#rebuilding
          ? 'rebuilding'
          : this.#building !== undefined
            ? 'building'
            : 'none';
    return { state, lastError: this.#lastMediaError, rebuilds: this.#rebuilds };
  }

  get viewerCount(): number {
    return this.#count('viewer');
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Reactions counted since the assembly opened on this server, by reaction. */
  get reactionTotals(): Record<string, number> {
    return this.#reactions.totals;
  }

  /** A camera's name as pages show it ("Camera 2", or what a moderator renamed it to). */
  cameraName(cameraId: CameraId): string | undefined {
    return this.#identities.get(cameraId)?.name;
  }

  /** A participant as pages see it: cameras with their name, place, mute and picture. */
  view(participant: Participant): ParticipantView {
    const camera =
      participant.cameraId === undefined ? undefined : this.#identities.get(participant.cameraId);
    return {
      ...participant,
      name: camera?.name,
      slot: camera?.slot,
      muted: camera?.muted,
      picture: camera?.picture,
    };
  }

  /** Cameras and crew as pages see them, in the order they joined. */
  get views(): ParticipantView[] {
    return this.participants.map((participant) => this.view(participant));
  }

  /**
   * Renames a camera (connected or within its grace period); the name is trimmed and must be
   * 1 to 40 printable characters (checkCameraName).
   */
  renameCamera(cameraId: CameraId, name: string): CameraIdentity {
    const camera = this.#identities.get(cameraId);
    if (
      camera === undefined ||
      (this.#findCamera(cameraId) === undefined && !this.#departed.has(cameraId))
    ) {
      throw new NotLiveError(`camera '${cameraId}' is not connected to this assembly`);
    }
    camera.name = checkCameraName(name, 'name');
    this.#cameraChanged(camera);
    return camera;
  }

  #count(role: Role): number {
    return this.#counts.get(role) ?? 0;
  }

  /**
   * Someone connects. A camera whose page sends the key of a camera still in this assembly
   * (connected, or within its grace period after its connection dropped) gets that camera back:
   * the same camera id, so the same tile, place in the grid and mute.
   */
  join(
    role: Role,
    options: {
      cameraKey?: CameraKey | undefined;
      inviteId?: InviteId | undefined;
      label?: string | undefined;
    } = {},
  ): Participant {
    const key = role === 'camera' ? options.cameraKey : undefined;
    const reclaimed = this.#reclaim(key);
    const participant: Participant = {
      id: newParticipantId(),
      role,
      cameraId: undefined,
      viewerId: role === 'viewer' ? newViewerId() : undefined,
      joinedAt: new Date().toISOString(),
      inviteId: role === 'camera' ? options.inviteId : undefined,
    };
    if (role === 'camera') {
      const camera = this.#identity(reclaimed?.cameraId ?? this.#known(key), key, options.label);
      participant.cameraId = camera.cameraId;
      // A camera that comes back is awaited afresh: its old connection's picture says nothing.
      if (reclaimed?.from === undefined) this.#awaitPicture(camera);
    }
    this.#add(participant);
    if (key !== undefined) this.#cameraKeys.set(participant.id, key);
    // The connection taken over goes only now, so the assembly is never empty in between.
    if (reclaimed?.from !== undefined) {
      this.#remove(reclaimed.from);
      this.emit('replaced', reclaimed.from.id);
    }
    this.#updateCounts();
    if (isListed(role)) this.emit('joined', participant);
    if (reclaimed !== undefined) {
      this.#log.info('camera reclaimed by its page', { camera: participant.cameraId });
    }
    return participant;
  }

  /**
   * The camera a key belongs to: a connected camera (whose connection the new one replaces) or
   * one within its grace period (whose removal is called off).
   */
  #reclaim(
    key: CameraKey | undefined,
  ): { cameraId: CameraId; from: Participant | undefined } | undefined {
    if (key === undefined) return undefined;
    for (const [participantId, held] of this.#cameraKeys) {
      const participant = this.#participants.get(participantId);
      if (held !== key || participant?.cameraId === undefined) continue;
      return { cameraId: participant.cameraId, from: participant };
    }
    for (const [cameraId, departed] of this.#departed) {
      if (departed.key !== key) continue;
      clearTimeout(departed.timer);
      this.#departed.delete(cameraId);
      return { cameraId, from: undefined };
    }
    return undefined;
  }

  /** The camera id a key had before, however long ago its page left (same name and place). */
  #known(key: CameraKey | undefined): CameraId | undefined {
    if (key === undefined) return undefined;
    for (const camera of this.#identities.values()) if (camera.key === key) return camera.cameraId;
    return undefined;
  }

  /** The identity of camera `cameraId`, or a new one (named by its invite's label, if any). */
  #identity(
    cameraId: CameraId | undefined,
    key: CameraKey | undefined,
    label: string | undefined,
  ): CameraIdentity {
    const known = cameraId === undefined ? undefined : this.#identities.get(cameraId);
    if (known !== undefined) {
      known.key ??= key;
      return known;
    }
    const slot = this.#nextSlot++;
    const camera: CameraIdentity = {
      cameraId: cameraId ?? newCameraId(),
      slot,
      name: label ?? `Camera ${slot}`,
      muted: false,
      picture: 'waiting',
      key,
    };
    this.#identities.set(camera.cameraId, camera);
    return camera;
  }

  /** Flags the camera when no picture arrives within the start timeout (see PictureState). */
  #awaitPicture(camera: CameraIdentity): void {
    this.#stopAwaitingPicture(camera.cameraId);
    if (camera.picture !== 'waiting') {
      camera.picture = 'waiting';
      this.#cameraChanged(camera);
    }
    const timer = setTimeout(() => {
      this.#startTimers.delete(camera.cameraId);
      if (camera.picture !== 'waiting' || this.#closed) return;
      this.#log.info('camera sent no picture in time; flagged', { camera: camera.cameraId });
      camera.picture = 'none';
      this.#cameraChanged(camera);
    }, this.#startMs);
    timer.unref();
    this.#startTimers.set(camera.cameraId, timer);
  }

  #stopAwaitingPicture(cameraId: CameraId): void {
    clearTimeout(this.#startTimers.get(cameraId));
    this.#startTimers.delete(cameraId);
  }

  #setPicture(cameraId: CameraId, picture: PictureState): void {
    const camera = this.#identities.get(cameraId);
    if (camera === undefined || camera.picture === picture) return;
    if (picture !== 'waiting') {
      this.#stopAwaitingPicture(cameraId);
    }
    camera.picture = picture;
    this.#cameraChanged(camera);
  }

  #cameraChanged(camera: CameraIdentity): void {
    this.emit('cameraChanged', camera, this.#findCamera(camera.cameraId));
  }

  #add(participant: Participant): void {
    this.#participants.set(participant.id, participant);
    this.#counts.set(participant.role, this.#count(participant.role) + 1);
    if (isListed(participant.role)) this.#listed.set(participant.id, participant);
    if (participant.cameraId !== undefined) this.#cameras.set(participant.cameraId, participant);
  }

  /**
   * Takes a participant out of every map and count (no grace period, no media change); false if
   * it was not there.
   */
  #remove(participant: Participant): boolean {
    if (!this.#participants.delete(participant.id)) return false;
    this.#counts.set(participant.role, this.#count(participant.role) - 1);
    this.#listed.delete(participant.id);
    // A reclaimed camera's id already belongs to the new connection: leave that entry alone.
    const cameraId = participant.cameraId;
    if (cameraId !== undefined && this.#cameras.get(cameraId) === participant) {
      this.#cameras.delete(cameraId);
    }
    this.#cameraKeys.delete(participant.id);
    this.#onAir.delete(participant.id);
    this.#reactions.forget(participant.id);
    this.#updateCounts();
    if (isListed(participant.role)) this.emit('left', participant);
    return true;
  }

  /**
   * Someone's connection ended. A camera keeps its tile for the grace period, during which its
   * page may reclaim it with its key, unless `reclaimable` is false (a moderator removed it).
   */
  leave(id: ParticipantId, options: { reclaimable?: boolean } = {}): void {
    const participant = this.#participants.get(id);
    if (participant === undefined) return;
    const key = this.#cameraKeys.get(id);
    this.#remove(participant);
    // Viewers have no media of their own; everyone else may have had a monitor.
    if (participant.role === 'viewer') return;
    void this.#media?.removeMonitor(id).catch((error: unknown) => this.#mediaFailed(error));
    void this.#media?.removePreviewMonitor(id).catch((error: unknown) => this.#mediaFailed(error));
    const cameraId = participant.cameraId;
    if (cameraId === undefined) return;
    // A camera that was on the program leaves it at once: the program goes back to the composite.
    if (this.#program.kind === 'camera' && this.#program.cameraId === cameraId) {
      void this.cutTo({ kind: 'composite' }).catch((error: unknown) => this.#mediaFailed(error));
    }
    if (this.#beforeVideo.kind === 'camera' && this.#beforeVideo.cameraId === cameraId) {
      this.#beforeVideo = { kind: 'composite' };
    }
    if (this.#preview.kind === 'camera' && this.#preview.cameraId === cameraId) {
      void this.setPreview({ kind: 'composite' }).catch((error: unknown) =>
        this.#mediaFailed(error),
      );
    }
    // Its tile stays for a short grace period (a page reload, a network blip), then reflows.
    const timer = setTimeout(() => {
      if (this.#departed.get(cameraId)?.timer !== timer) return;
      this.#departed.delete(cameraId);
      this.#stopAwaitingPicture(cameraId);
      void this.#media?.removeCamera(cameraId).catch((error: unknown) => this.#mediaFailed(error));
    }, this.#graceMs);
    clearTimeout(this.#departed.get(cameraId)?.timer);
    this.#departed.set(cameraId, {
      key: options.reclaimable === false ? undefined : key,
      timer,
    });
  }

  /** A camera page's offer; answers with the media server's SDP. */
  async offerCamera(participantId: ParticipantId, sdp: string): Promise<string> {
    const cameraId = this.#camera(participantId).cameraId;
    if (cameraId === undefined) throw new InvalidArgumentError('only a camera can publish');
    const camera = this.#identities.get(cameraId);
    const media = await this.#ensureMedia();
    const answer = await media.offerCamera(cameraId, sdp, {
      muted: camera?.muted === true,
      slot: camera?.slot,
    });
    // A page that reconnected (a reload, a network blip) starts with ON AIR off and is a new
    // participant; when it reclaimed a tile that never left the mix, no cut or tile change
    // would ever tell it, so it is told now.
    this.#updateOnAir();
    return answer;
  }

  async addCameraCandidate(
    participantId: ParticipantId,
    candidate: IceCandidateInit,
  ): Promise<void> {
    const cameraId = this.#camera(participantId).cameraId;
    if (cameraId === undefined) throw new InvalidArgumentError('only a camera can publish');
    await (await this.#ensureMedia()).addCameraCandidate(cameraId, candidate);
  }

  /** A presenter's (or moderator's) low-latency monitor of the program. */
  async offerMonitor(participantId: ParticipantId, sdp: string): Promise<string> {
    return (await this.#ensureMedia()).offerMonitor(participantId, sdp);
  }

  async addMonitorCandidate(
    participantId: ParticipantId,
    candidate: IceCandidateInit,
  ): Promise<void> {
    await (await this.#ensureMedia()).addMonitorCandidate(participantId, candidate);
  }

  /**
   * Cuts the program. A camera must be connected (InvalidArgumentError otherwise). Without a media
   * server the choice is recorded and applied once media is built.
   */
  cutTo(source: ProgramSource): Promise<void> {
    const cut = this.#cut(source);
    this.#cutting = cut;
    return cut;
  }

  async #cut(source: ProgramSource): Promise<void> {
    if (source.kind === 'camera' && this.#findCamera(source.cameraId) === undefined) {
      throw new InvalidArgumentError(
        `camera '${source.cameraId}' is not connected to this assembly`,
      );
    }
    if (source.kind === 'video' && this.#program.kind !== 'video')
      this.#beforeVideo = this.#program;
    // A build under way would reset the program; wait for it so this cut applies after it.
    const media = this.#media ?? (await this.#building?.catch(() => undefined));
    if (media !== undefined) await media.cutTo(mediaProgram(source));
    this.#program = source;
    this.#updateProgramMetric();
    this.emit('programChanged', source);
    this.#updateOnAir();
  }

  /**
   * Puts a source on the preview (the studio's next source). A camera must be connected
   * (InvalidArgumentError otherwise). Without a media server the choice is recorded and shown
   * once media is built.
   */
  async setPreview(source: ProgramSource): Promise<void> {
    if (source.kind === 'camera' && this.#findCamera(source.cameraId) === undefined) {
      throw new InvalidArgumentError(
        `camera '${source.cameraId}' is not connected to this assembly`,
      );
    }
    const media = this.#media ?? (await this.#building?.catch(() => undefined));
    if (media !== undefined) await media.setPreview(mediaProgram(source));
    this.#preview = source;
    this.emit('previewChanged', source);
  }

  /**
   * Take: the preview goes on the program (the usual cut, with its rules) and, as in vMix or
   * OBS's studio mode, the former program goes to the preview.
   */
  async take(): Promise<void> {
    const next = this.#preview;
    const former = this.#program;
    await this.cutTo(next);
    // A camera that left meanwhile cannot be previewed; the composite can always be.
    const formerGone = former.kind === 'camera' && this.#findCamera(former.cameraId) === undefined;
    await this.setPreview(formerGone ? { kind: 'composite' } : former);
  }

  /** A studio's low-latency monitor of the preview (video only). */
  async offerPreviewMonitor(participantId: ParticipantId, sdp: string): Promise<string> {
    return (await this.#ensureMedia()).offerPreviewMonitor(participantId, sdp);
  }

  async addPreviewCandidate(
    participantId: ParticipantId,
    candidate: IceCandidateInit,
  ): Promise<void> {
    await (await this.#ensureMedia()).addPreviewCandidate(participantId, candidate);
  }

  /** Applies settings changed in the store (layout, tile count, recording). */
  async applySettings(settings: {
    layout: LayoutRequest['layout'];
    maxTiles: number;
    recording: boolean;
    phase: Phase;
  }): Promise<void> {
    if (settings.phase === 'ended') {
      await this.#end();
      return;
    }
    await this.setLayout({ ...this.#layout, layout: settings.layout, maxTiles: settings.maxTiles });
    await this.setRecording(settings.recording);
    if (settings.phase === 'live' && this.#phase === 'backstage') await this.#goLive();
  }

  /**
   * Backstage → live: the program bridge starts publishing (the edges' HLS history begins now)
   * and the recording starts if it is on.
   */
  async #goLive(): Promise<void> {
    this.#phase = 'live';
    this.#log.info('assembly is live');
    this.emit('phaseChanged', 'live');
    const media = this.#media ?? (await this.#building?.catch(() => undefined));
    if (media === undefined) return;
    await media.startDelivery();
    if (this.#recording) await media.setRecording(true);
  }

  /**
   * The assembly ended: the recording is finalized (its recorder stopped and its file closed),
   * then the program's delivery stops and the media is released. Connections stay, so that
   * every page can say that it ended; nothing builds media again.
   */
  async #end(): Promise<void> {
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    this.#log.info('assembly ended');
    this.emit('phaseChanged', 'ended');
    for (const timer of this.#startTimers.values()) clearTimeout(timer);
    this.#startTimers.clear();
    this.#generation += 1;
    const media = this.#media ?? (await this.#building?.catch(() => undefined));
    this.#media = undefined;
    this.#building = undefined;
    try {
      await media?.setRecording(false);
    } catch (error) {
      this.#mediaFailed(error);
    }
    await media?.release();
    await this.#backend?.endProgram(this.id);
  }

  /** Changes the live layout; `cameras` (a subset, in order) must name connected cameras. */
  async setLayout(layout: LayoutRequest): Promise<void> {
    for (const cameraId of layout.cameras ?? []) {
      if (this.#findCamera(cameraId) === undefined) {
        throw new InvalidArgumentError(`camera '${cameraId}' is not connected to this assembly`);
      }
    }
    const same =
      layout.layout === this.#layout.layout &&
      layout.maxTiles === this.#layout.maxTiles &&
      (layout.cameras ?? []).join() === (this.#layout.cameras ?? []).join() &&
      (layout.cameras === undefined) === (this.#layout.cameras === undefined);
    const camerasChanged =
      (layout.cameras ?? []).join() !== (this.#layout.cameras ?? []).join() ||
      (layout.cameras === undefined) !== (this.#layout.cameras === undefined);
    this.#layout = layout;
    if (camerasChanged) this.emit('layoutChanged', layout.cameras);
    if (!same) this.emit('layoutSet', layout);
    if (!same) await this.#media?.setLayout(layout);
  }

  get layout(): LayoutRequest {
    return this.#layout;
  }

  /** The recording setting; the recorder itself runs only while the assembly is live. */
  async setRecording(on: boolean): Promise<void> {
    if (on === this.#recording) return;
    this.#recording = on;
    if (this.#phase === 'live') await this.#media?.setRecording(on);
  }

  get recording(): boolean {
    return this.#recording;
  }

  async muteCamera(cameraId: CameraId, muted: boolean): Promise<void> {
    const camera = this.#identities.get(cameraId);
    if (this.#findCamera(cameraId) === undefined || camera === undefined) {
      throw new NotLiveError(`camera '${cameraId}' is not connected to this assembly`);
    }
    await this.#media?.muteCamera(cameraId, muted);
    if (camera.muted === muted) return;
    camera.muted = muted;
    this.#cameraChanged(camera);
  }

  /**
   * A moderator takes a camera out: its media goes now, its connection is closed, and its page's
   * key is refused from now on (`isRemovedCamera`), so that a reload does not bring it back.
   */
  async removeCamera(cameraId: CameraId): Promise<void> {
    const participant = this.#findCamera(cameraId);
    if (participant === undefined) {
      throw new NotLiveError(`camera '${cameraId}' is not connected to this assembly`);
    }
    const key = this.#cameraKeys.get(participant.id);
    if (key !== undefined) this.#removedKeys.add(key);
    this.emit('removed', participant.id);
    this.leave(participant.id, { reclaimable: false });
    await this.#media?.removeCamera(cameraId);
  }

  /** Counts a reaction; false when the sender is over its rate limit. */
  react(participantId: ParticipantId, reaction: string, atMs?: number): boolean {
    return this.#reactions.add(participantId, reaction, atMs);
  }

  /** The totals stored before this assembly opened here (ReactionLog seeds them once). */
  seedReactionTotals(totals: Record<string, number>): void {
    this.#reactions.seedTotals(totals);
  }

  /** Builds the media now if a media server is connected; failures are logged, not thrown. */
  startMedia(): void {
    if (this.#backend?.available !== true || this.#media !== undefined) return;
    void this.#ensureMedia().catch((error: unknown) => this.#mediaFailed(error));
  }

  /**
   * The media server session was lost (or replaced), or the assembly's pipeline failed: the
   * old objects are gone. Forget them and, when `rebuild`, build everything again (retrying
   * with a growing delay while the media server is there but the build fails) and ask the
   * pages to offer again. `reason` is kept for /healthz.
   */
  async resetMedia(rebuild: boolean, reason?: string): Promise<void> {
    this.#generation += 1;
    const generation = this.#generation;
    if (reason !== undefined) this.#lastMediaError = reason;
    const old = this.#media;
    this.#media = undefined;
    this.#building = undefined;
    this.#rebuilding = rebuild;
    try {
      // The old pipeline is dead or belongs to a session that is gone: nobody may answer its
      // release, and the new media must not wait for that.
      await old?.release({ releaseWaitMs: 500 });
      if (this.#program.kind === 'video') {
        this.#program = { kind: 'composite' };
        this.#updateProgramMetric();
        this.emit('programChanged', this.#program);
      }
      if (!rebuild || this.#closed) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#ensureMedia();
          break;
        } catch (error) {
          this.#lastMediaError = error instanceof Error ? error.message : String(error);
          // A newer reset took over, the assembly ended, or the media server went away (its
          // return triggers a new reset): this one stops here.
          if (generation !== this.#generation || this.#closed) return;
          if (this.#backend?.available !== true) throw error;
          const delayMs = REBUILD_DELAYS_MS[Math.min(attempt, REBUILD_DELAYS_MS.length - 1)];
          this.#log.warn('building the assembly media again failed; retrying', {
            attempt: attempt + 1,
            delayMs,
            error: this.#lastMediaError,
          });
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          if (generation !== this.#generation || this.#closed) return;
        }
      }
      if (old !== undefined) this.#rebuilds += 1;
      this.emit('mediaReset');
    } finally {
      if (generation === this.#generation) this.#rebuilding = false;
    }
  }

  /** Ends the live assembly: releases its media and forgets its metrics series. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    for (const timer of this.#startTimers.values()) clearTimeout(timer);
    this.#startTimers.clear();
    for (const departed of this.#departed.values()) clearTimeout(departed.timer);
    this.#departed.clear();
    this.#generation += 1;
    const media = this.#media;
    this.#media = undefined;
    this.#metrics.cameras.remove({ assembly: this.id });
    this.#metrics.viewers.remove({ assembly: this.id });
    this.#metrics.programSource.removeMatching({ assembly: this.id });
    // The last second's reactions are stored before the listeners go.
    const seconds = this.#reactions.flushTimeline();
    if (seconds.length > 0) this.emit('reactionSeconds', seconds);
    this.removeAllListeners();
    await media?.release();
    await this.#backend?.endProgram(this.id);
  }

  #ensureMedia(): Promise<AssemblyMedia> {
    if (this.#media !== undefined) return Promise.resolve(this.#media);
    if (this.#closed || this.#phase === 'ended') {
      return Promise.reject(new NotLiveError('this assembly has ended'));
    }
    const backend = this.#backend;
    if (backend === undefined || !backend.available) {
      return Promise.reject(
        new MediaUnavailableError('the media server is not connected; try again in a moment'),
      );
    }
    this.#building ??= this.#build(backend);
    return this.#building;
  }

  async #build(backend: MediaBackend): Promise<AssemblyMedia> {
    const generation = this.#generation;
    let media: AssemblyMedia;
    try {
      media = await backend.build(this.id, this.#layout, { deliver: this.#phase === 'live' });
    } catch (error) {
      if (this.#generation === generation) this.#building = undefined;
      this.#log.error('building the assembly media failed', { error: String(error) });
      throw new MediaUnavailableError('the media of this assembly could not be built');
    }
    if (this.#generation !== generation || this.#closed || this.#phase === 'ended') {
      await media.release();
      throw new MediaUnavailableError('the media server connection changed; try again');
    }
    this.#wire(media);
    if (this.#program.kind !== 'composite') {
      // A camera's media does not exist yet after a rebuild; the composite is the safe start.
      this.#program = { kind: 'composite' };
      this.#updateProgramMetric();
      this.emit('programChanged', this.#program);
    }
    if (this.#recording && this.#phase === 'live') await media.setRecording(true);
    // Went live while this was being built: #goLive found no media to start.
    if (this.#phase === 'live') await media.startDelivery();
    // The preview survives a rebuild: its switcher is built again by the preview monitors'
    // new offers, and shows what it showed (a camera as soon as that camera offers again).
    await media.setPreview(mediaProgram(this.#preview));
    this.#media = media;
    this.#building = undefined;
    return media;
  }

  #wire(media: AssemblyMedia): void {
    const participantOf = (cameraId: CameraId): ParticipantId | undefined =>
      this.#findCamera(cameraId)?.id;
    media.on('cameraCandidate', (cameraId, candidate) => {
      const participant = participantOf(cameraId);
      if (participant !== undefined) this.emit('cameraCandidate', participant, candidate);
    });
    media.on('monitorCandidate', (monitorId, candidate) => {
      const participant = this.#participants.get(monitorId as ParticipantId);
      if (participant !== undefined) this.emit('monitorCandidate', participant.id, candidate);
    });
    media.on('videoProgress', (progress) => this.emit('progress', progress));
    media.on('videoEnded', (uri) => void this.#videoStopped(uri, undefined));
    media.on('videoFailed', (uri, failure) => void this.#videoStopped(uri, failure));
    media.on('cameraFlowing', (cameraId) => this.#setPicture(cameraId, 'live'));
    media.on('cameraRecovered', (cameraId) => this.#setPicture(cameraId, 'live'));
    media.on('cameraLost', (cameraId) => {
      this.#setPicture(cameraId, 'none');
      if (this.#program.kind === 'camera' && this.#program.cameraId === cameraId) {
        void this.cutTo({ kind: 'composite' }).catch((error: unknown) => this.#mediaFailed(error));
      }
    });
    media.on('tilesChanged', () => this.#updateOnAir());
    media.on('tilesChanged', (cameraIds) => this.emit('tilesChanged', cameraIds));
    media.on('previewCandidate', (monitorId, candidate) => {
      const participant = this.#participants.get(monitorId as ParticipantId);
      if (participant !== undefined) this.emit('previewCandidate', participant.id, candidate);
    });
    media.on('failed', (reason) => {
      if (this.#media !== media) return;
      this.#log.warn('the assembly media failed; building it again', { reason });
      void this.resetMedia(true, reason).catch((error: unknown) => this.#mediaFailed(error));
    });
    media.on('recordingFailed', (failure) => {
      if (this.#media !== media) return;
      // Off, so that turning recording on again starts a new recording.
      this.#recording = false;
      this.emit('recordingFailed', failure);
    });
  }

  /**
   * The video on the program ended or failed: the program goes back to the source before it.
   * The player's Error (or a very short clip's end) can come before the cut to the video has
   * returned and made it the program, so that cut is awaited first.
   */
  async #videoStopped(uri: string, failure: VideoFailure | undefined): Promise<void> {
    await this.#cutting?.catch(() => undefined);
    const source = this.#program;
    // Another cut came meanwhile: the video is no longer on the program.
    if (source.kind !== 'video' || source.uri !== uri) return;
    const back = this.#beforeVideo;
    if (failure === undefined) {
      this.#log.info('injected video ended; cutting back', { to: sourceLabel(back) });
    } else {
      this.#log.warn('injected video failed; cutting back', {
        to: sourceLabel(back),
        video: source.name,
        ...failure,
      });
      this.emit('videoFailed', { ...failure, source, back });
    }
    await this.cutTo(back).catch((error: unknown) => {
      this.#mediaFailed(error);
      void this.cutTo({ kind: 'composite' }).catch((again: unknown) => this.#mediaFailed(again));
    });
  }

  /** Tells each camera whether its picture is on the program, when that changes. */
  #updateOnAir(): void {
    const tiles = this.#media?.tiles ?? [];
    for (const [cameraId, participant] of this.#cameras) {
      const onAir =
        this.#program.kind === 'camera'
          ? this.#program.cameraId === cameraId
          : this.#program.kind === 'composite' && tiles.includes(cameraId);
      if (this.#onAir.get(participant.id) === onAir) continue;
      this.#onAir.set(participant.id, onAir);
      this.emit('onAir', participant.id, onAir);
    }
  }

  #camera(participantId: ParticipantId): Participant {
    const participant = this.#participants.get(participantId);
    if (participant === undefined) throw new NotLiveError('this connection has left the assembly');
    return participant;
  }

  #findCamera(cameraId: CameraId): Participant | undefined {
    return this.#cameras.get(cameraId);
  }

  #mediaFailed(error: unknown): void {
    // A removal queued behind the release of the assembly's media has nothing left to remove.
    const level = error instanceof MediaReleasedError ? 'debug' : 'warn';
    this.#log[level]('media operation failed', {
      error: error instanceof Error ? error.message : String(error),
    });
  }

  #updateCounts(): void {
    this.#metrics.cameras.set(this.#count('camera'), { assembly: this.id });
    this.#metrics.viewers.set(this.#count('viewer'), { assembly: this.id });
  }

  #updateProgramMetric(): void {
    this.#metrics.programSource.removeMatching({ assembly: this.id });
    this.#metrics.programSource.set(1, { assembly: this.id, source: sourceLabel(this.#program) });
  }
}

export interface LiveAssembliesOptions {
  metrics: MetricsRegistry;
  media?: MediaBackend;
  logger: Logger;
  cameraGraceMs?: number;
  /** Called with every live assembly as it is created (the chapters follow its program). */
  onOpened?: (live: LiveAssembly) => void;
}

/** The live assemblies of this server, created when the first participant arrives. */
export class LiveAssemblies {
  readonly #live = new Map<AssemblyId, LiveAssembly>();
  readonly #options: LiveAssembliesOptions;
  /**
   * The keys of removed cameras, per assembly. Kept here rather than in the LiveAssembly, which
   * ends when its last participant leaves: a removed camera stays out until the server restarts
   * (its page also remembers, see public/src/camera.ts).
   */
  readonly #removedCameraKeys = new Map<AssemblyId, Set<CameraKey>>();

  constructor(options: LiveAssembliesOptions) {
    this.#options = options;
  }

  find(id: AssemblyId): LiveAssembly | undefined {
    return this.#live.get(id);
  }

  all(): LiveAssembly[] {
    return [...this.#live.values()];
  }

  /** The live assembly `id`, created (and its media started) if nobody was connected yet. */
  open(
    id: AssemblyId,
    settings: {
      layout: LayoutRequest['layout'];
      maxTiles: number;
      recording: boolean;
      phase: Phase;
    },
  ): LiveAssembly {
    let live = this.#live.get(id);
    if (live === undefined) {
      live = new LiveAssembly(id, {
        metrics: this.#options.metrics,
        media: this.#options.media,
        layout: { layout: settings.layout, maxTiles: settings.maxTiles, cameras: undefined },
        recording: settings.recording,
        phase: settings.phase,
        logger: this.#options.logger,
        cameraGraceMs: this.#options.cameraGraceMs,
        removedCameraKeys: this.#removedKeysOf(id),
      });
      this.#live.set(id, live);
      this.#options.onOpened?.(live);
    }
    return live;
  }

  /** True when a moderator removed the camera whose page holds `key` from assembly `id`. */
  isRemovedCamera(id: AssemblyId, key: CameraKey): boolean {
    return this.#removedCameraKeys.get(id)?.has(key) ?? false;
  }

  #removedKeysOf(id: AssemblyId): Set<CameraKey> {
    let keys = this.#removedCameraKeys.get(id);
    if (keys === undefined) {
      keys = new Set();
      this.#removedCameraKeys.set(id, keys);
    }
    return keys;
  }

  /** Ends a live assembly (deleted, or its last participant left) and releases its media. */
  close(id: AssemblyId): void {
    const live = this.#live.get(id);
    this.#live.delete(id);
    void live?.close().catch((error: unknown) => {
      this.#options.logger.warn('releasing assembly media failed', { error: String(error) });
    });
  }

  /** A media server session is up: build the media of every live assembly that has none. */
  mediaConnected(resumed: boolean): void {
    for (const live of this.#live.values()) {
      if (resumed && live.media !== undefined) continue;
      const reason = resumed ? undefined : 'the media server restarted';
      void live.resetMedia(true, reason).catch((error: unknown) => {
        this.#options.logger.warn('rebuilding assembly media failed', { error: String(error) });
      });
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.#live.values()];
    this.#live.clear();
    await Promise.allSettled(all.map((live) => live.close()));
  }
}
