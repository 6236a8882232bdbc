/**
 * socket.io signaling. The handshake middleware verifies the token and the assembly it asks
 * for; each connection joins its assembly's room and the assembly's `LiveAssembly`. Handlers
 * validate the payload, check the role, call one domain method, and answer through the ack; the
 * domain's events are forwarded to the room. Transport code only: no media calls here.
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type ExtendedError, type Socket } from 'socket.io';
import { ForbiddenRoleError, TokenMissingError } from '../auth/errors.js';
import { ALL_ASSEMBLIES, type Role } from '../auth/roles.js';
import type { TokenClaims, Tokens } from '../auth/Tokens.js';
import type { Invites } from '../auth/Invites.js';
import { toView, type Assemblies } from '../domain/Assemblies.js';
import { CameraRemovedError, InvalidArgumentError, RateLimitedError } from '../domain/errors.js';
import { ClipPreviews } from '../domain/ClipPreviews.js';
import type { DiskSpace } from '../domain/DiskSpace.js';
import type { MediaLibrary } from '../domain/MediaLibrary.js';
import type { AssemblyId, CameraId, CameraKey } from '../domain/ids.js';
import { parseAssemblyId, parseCameraKey } from '../domain/ids.js';
import {
  checkCameraName,
  type LiveAssemblies,
  type LiveAssembly,
  type Participant,
  type ParticipantView,
  type ProgramSource,
} from '../domain/LiveAssemblies.js';
import type { VideoSources } from '../domain/VideoSources.js';
import type { Logger } from '../log.js';
import { LAYOUTS } from '../store/AssemblyStore.js';
import { LIMITS } from '../domain/Assemblies.js';
import { toWireError } from '../wire/errors.js';
import type { OriginPolicy } from '../security/OriginPolicy.js';
import { RateLimiter } from '../security/RateLimiter.js';
import { ThumbnailGate, thumbnailPayload } from './thumbnails.js';
import { boolean, integer, object, oneOf, optional, string, type Check } from '../wire/validate.js';
import {
  REACTIONS,
  type ClientToServerEvents,
  type CutRequest,
  type IceCandidateWire,
  type ParticipantWire,
  type ProgramWire,
  type Reply,
  type ServerToClientEvents,
} from './events.js';

interface SocketData {
  claims: TokenClaims;
  assemblyId: AssemblyId;
  /** A camera page's key, with which a reconnecting page reclaims its camera. */
  cameraKey: CameraKey | undefined;
  participant: Participant;
}

type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, object, SocketData>;

/** Signaling messages carry SDP and candidates at most; refuse anything much larger. */
const MAX_MESSAGE_BYTES = 256 * 1024;

/** Events that only read: not rate-limited (every other event changes something). */
const READ_ONLY_EVENTS: ReadonlySet<string> = new Set(['presence:list', 'library:list']);
/** Longest delay setTimeout supports (about 24.8 days); longer-lived tokens are not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const id = string({ max: 64, pattern: /^[A-Za-z0-9_-]+$/, what: 'an id' });
const emptyPayload = object({});
/**
 * `at`: the program time (Unix ms, the EXT-X-PROGRAM-DATE-TIME on the sender's screen) the
 * reaction belongs to; now when absent. Checked against the clock in the handler.
 */
const reactionPayload = object({
  reaction: oneOf(REACTIONS),
  at: optional(integer(0, Number.MAX_SAFE_INTEGER)),
});
/** A reaction may be at most this far in the future (clocks differ a little) or the past. */
const REACTION_AHEAD_MS = 10_000;
const REACTION_BEHIND_MS = 7 * 24 * 3600 * 1000;
/** SDP of one browser offer: a few kB; 64 kB leaves room for many m-lines and candidates. */
const sdpPayload = object({ sdp: string({ max: 64 * 1024, what: 'an SDP offer' }) });
const cameraIdPayload = object({ cameraId: id });
const mutePayload = object({ cameraId: id, muted: boolean() });
const recordingPayload = object({ on: boolean() });
const renamePayload = object({
  cameraId: id,
  name: (value: unknown, path: string) => checkCameraName(value, path),
});

/** A trickled candidate; sdpMid and sdpMLineIndex may be null, as browsers send them. */
const candidatePayload: Check<IceCandidateWire> = (value, path) => {
  const record = object({
    candidate: string({ min: 0, max: 1000, what: 'an ICE candidate line' }),
    sdpMid: optional((v, p) => (v === null ? null : string({ min: 0, max: 64 })(v, p))),
    sdpMLineIndex: optional((v, p) => (v === null ? null : integer(0, 64)(v, p))),
  })(value, path);
  return {
    candidate: record.candidate,
    sdpMid: record.sdpMid ?? null,
    sdpMLineIndex: record.sdpMLineIndex ?? null,
  };
};

/** The layout request: `cameras` absent keeps the choice, null resets it, a list picks. */
const layoutCameras: Check<string[] | null | undefined> = (value, path) => {
  if (value === undefined || value === null) return value;
  if (!Array.isArray(value) || value.length > LIMITS.maxTiles) {
    throw new InvalidArgumentError(
      `${path} must be a list of at most ${LIMITS.maxTiles} camera ids`,
    );
  }
  const ids = value.map((entry, i) => id(entry, `${path}[${i}]`));
  if (new Set(ids).size !== ids.length)
    throw new InvalidArgumentError(`${path} names a camera twice`);
  return ids;
};

const layoutPayload = object({
  layout: oneOf(LAYOUTS),
  maxTiles: optional(integer(1, LIMITS.maxTiles)),
  cameras: layoutCameras,
});

function programWire(source: ProgramSource): ProgramWire {
  return source.kind === 'video' ? { kind: 'video', name: source.name } : source;
}

/** A program cut: the shape depends on `source`, so the fields are checked per kind. */
const cutPayload: Check<CutRequest> = (value, path) => {
  // Not an object at all: say so ("must be a JSON object"), rather than that source is missing.
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    emptyPayload(value, path);
  const source = oneOf(['composite', 'camera', 'video'] as const)(
    (value as { source?: unknown } | null)?.source,
    `${path}.source`,
  );
  switch (source) {
    case 'composite':
      return object({ source: oneOf(['composite'] as const) })(value, path);
    case 'camera':
      return object({ source: oneOf(['camera'] as const), cameraId: id })(value, path);
    case 'video': {
      const video = object({
        source: oneOf(['video'] as const),
        file: optional(string({ max: 500 })),
        url: optional(string({ max: 2000 })),
      })(value, path);
      if (video.file !== undefined && video.url === undefined) return { source, file: video.file };
      if (video.url !== undefined && video.file === undefined) return { source, url: video.url };
      throw new InvalidArgumentError(
        `${path} must have either a file or a url, not both or neither`,
      );
    }
  }
};

function participantWire(view: ParticipantView): ParticipantWire {
  return { ...view };
}

/**
 * A participant as `role` sees it: the invite link a camera came from is the crew's business
 * (the panel offers to revoke it), not the other cameras' or the viewers'.
 */
function participantWireFor(role: Role): (participant: ParticipantView) => ParticipantWire {
  const crewView = CREW_ROLES.includes(role);
  return (participant) => ({
    ...participantWire(participant),
    inviteId: crewView ? participant.inviteId : undefined,
  });
}

function room(assemblyId: AssemblyId): string {
  return `assembly:${assemblyId}`;
}

/** Each connection also joins a room of its own, so domain events can address one participant. */
function personal(participant: string): string {
  return `participant:${participant}`;
}

/**
 * The crew of an assembly (presenters, moderators, operators): who sees camera thumbnails, who
 * hears of each camera and crew member coming and going, and who gets the viewer count.
 */
function crew(assemblyId: AssemblyId): string {
  return `crew:${assemblyId}`;
}

/** Every assembly's crew: the server's disks are everyone's business. */
const ALL_CREWS = 'crews';

/** The connections opened with one invite link's tokens: closed together when it is revoked. */
function inviteRoom(inviteId: string): string {
  return `invite:${inviteId}`;
}

/** The viewers of an assembly: their watch page shows the viewer count too. */
function audience(assemblyId: AssemblyId): string {
  return `audience:${assemblyId}`;
}

const CREW_ROLES: readonly Role[] = ['presenter', 'moderator', 'operator'];

export interface SignalingDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  invites: Invites;
  live: LiveAssemblies;
  videos: VideoSources;
  library: MediaLibrary;
  /** Free space of the media folders: its warnings go to every assembly's crew. */
  disk?: DiskSpace;
  logger: Logger;
  /** The browser origins whose pages may connect (MONTAGE_PUBLIC_URL, MONTAGE_ALLOWED_ORIGINS). */
  origins: OriginPolicy;
  /** MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE: state-changing events a minute per connection. */
  socketRateLimitPerMinute: number;
}

export class SignalingServer {
  readonly #io: Server<ClientToServerEvents, ServerToClientEvents, object, SocketData>;
  readonly #deps: SignalingDeps;
  readonly #log: Logger;
  /** Durations and first frames of the library's clips, for the studio's multiview. */
  readonly #clips: ClipPreviews;
  /** State-changing events per connection (keyed by socket id). */
  readonly #limiter: RateLimiter;

  constructor(httpServer: HttpServer, deps: SignalingDeps) {
    this.#deps = deps;
    this.#log = deps.logger;
    this.#clips = new ClipPreviews(deps.library, deps.logger);
    this.#limiter = new RateLimiter(deps.socketRateLimitPerMinute);
    this.#io = new Server(httpServer, {
      serveClient: false,
      // A page of another site must not connect with a token it got hold of (cross-site
      // WebSocket hijacking): a foreign Origin is refused before any transport opens, with a
      // 403 whose body says why. Clients without Origin (Node, curl) are not browsers' pages.
      allowRequest: (req, callback) => {
        const origin = req.headers.origin;
        if (deps.origins.allows(origin)) {
          callback(null, true);
          return;
        }
        this.#log.warn('socket from a foreign origin refused', { origin });
        callback(`origin_forbidden: ${deps.origins.refusal(origin ?? '')}`, false);
      },
      maxHttpBufferSize: MAX_MESSAGE_BYTES,
      // A page that vanishes without closing its connection (a phone off Wi-Fi, a tab killed
      // while still on HTTP long-polling) is noticed by the heartbeat alone: within 15 s
      // instead of socket.io's 45 s, so that a camera that is gone does not keep its tile.
      pingInterval: 10_000,
      pingTimeout: 5_000,
    });
    this.#io.use((socket, next) => {
      try {
        this.#authenticate(socket);
        next();
      } catch (error) {
        const { error: wire, unexpected } = toWireError(error);
        if (unexpected) this.#log.error('socket handshake failed', { error });
        const refusal: ExtendedError = Object.assign(new Error(wire.message), { data: wire });
        next(refusal);
      }
    });
    this.#io.on('connection', (socket) => this.#onConnection(socket));

    deps.assemblies.on('updated', (assembly) => {
      this.#io.to(room(assembly.id)).emit('assembly:updated', toView(assembly));
    });
    deps.assemblies.on('deleted', (assemblyId) => {
      this.#io.to(room(assemblyId)).emit('assembly:deleted', { id: assemblyId });
      this.#io.in(room(assemblyId)).disconnectSockets(true);
      deps.live.close(assemblyId);
      this.#clips.forget(assemblyId);
    });
    deps.disk?.on('changed', (warnings) => {
      this.#io.to(ALL_CREWS).emit('disk:warnings', { warnings });
    });
    // A revoked link's tokens are refused from now on (Tokens); its open connections end now,
    // after being told why.
    deps.invites.on('revoked', (invite) => {
      this.#io.to(inviteRoom(invite.id)).emit('request:error', {
        event: 'connection',
        code: 'token_revoked',
        message: 'this link was revoked; ask your teacher for a new one',
      });
      this.#io.in(inviteRoom(invite.id)).disconnectSockets(true);
    });
  }

  /** Disconnects every client and stops accepting new ones (the HTTP server is not closed). */
  async close(): Promise<void> {
    this.#io.disconnectSockets(true);
    // io.close() would also close the HTTP server, which the App owns; close the engine only.
    this.#io.engine.close();
    await this.#deps.live.closeAll();
  }

  #authenticate(socket: SignalingSocket): void {
    const auth = socket.handshake.auth as {
      token?: unknown;
      assembly?: unknown;
      cameraKey?: unknown;
    };
    if (typeof auth.token !== 'string' || auth.token === '') {
      throw new TokenMissingError('pass it in the socket.io handshake as auth: { token }');
    }
    if (auth.assembly !== undefined && typeof auth.assembly !== 'string') {
      throw new InvalidArgumentError('auth.assembly must be an assembly id (a string)');
    }
    const requested =
      auth.assembly === undefined ? undefined : parseAssemblyId(auth.assembly, 'auth.assembly');
    const claims = this.#deps.tokens.verify(auth.token, { assembly: requested });
    const assemblyId = requested ?? claims.assembly;
    if (assemblyId === ALL_ASSEMBLIES) {
      throw new InvalidArgumentError(
        'an operator token covers every assembly: name one in auth.assembly',
      );
    }
    if (auth.cameraKey !== undefined && typeof auth.cameraKey !== 'string') {
      throw new InvalidArgumentError('auth.cameraKey must be a string');
    }
    this.#deps.assemblies.get(assemblyId);
    socket.data.claims = claims;
    socket.data.assemblyId = assemblyId;
    // Only a camera has a camera to reclaim; other pages' keys are checked and ignored.
    socket.data.cameraKey =
      auth.cameraKey === undefined ? undefined : parseCameraKey(auth.cameraKey, 'auth.cameraKey');
    if (claims.role !== 'camera') socket.data.cameraKey = undefined;
    // A camera the moderator removed does not come back by reloading its page.
    const key = socket.data.cameraKey;
    if (key !== undefined && this.#deps.live.isRemovedCamera(assemblyId, key)) {
      throw new CameraRemovedError();
    }
  }

  #onConnection(socket: SignalingSocket): void {
    const { claims, assemblyId } = socket.data;
    const live = this.#liveAssembly(assemblyId);
    const participant = live.join(claims.role, {
      cameraKey: socket.data.cameraKey,
      inviteId: claims.inviteId,
      label: claims.label,
    });
    socket.data.participant = participant;
    void socket.join(room(assemblyId));
    if (claims.inviteId !== undefined) void socket.join(inviteRoom(claims.inviteId));
    void socket.join(personal(participant.id));
    const crewMember = CREW_ROLES.includes(claims.role);
    if (crewMember) void socket.join([crew(assemblyId), ALL_CREWS]);
    if (claims.role === 'viewer') void socket.join(audience(assemblyId));
    // The program runs (and reaches the edges) as long as anyone is in the assembly.
    if (live.phase !== 'ended') live.startMedia();
    const log = this.#log.child({ assembly: assemblyId, participant: participant.id });
    // Thousands of viewers come and go in a whole-school assembly: their lines are debug.
    const presenceLevel = claims.role === 'viewer' ? 'debug' : 'info';
    log[presenceLevel]('participant joined', { role: claims.role });

    const seen = participantWireFor(claims.role);
    socket.emit('welcome', {
      assembly: toView(this.#deps.assemblies.get(assemblyId)),
      you: seen(live.view(participant)),
      participants: live.views.map(seen),
      program: programWire(live.program),
      viewers: live.viewerCount,
      layoutCameras: live.layout.cameras === undefined ? null : [...live.layout.cameras],
      reactionTotals: live.reactionTotals,
      preview: programWire(live.preview),
      tiles: [...live.tiles],
      ...(crewMember ? { diskWarnings: this.#deps.disk?.warnings ?? [] } : {}),
    });

    // A token that expires while connected ends the connection then, not at the next reconnect.
    const remainingMs = claims.expiresAt * 1000 - Date.now();
    const expiry =
      remainingMs < MAX_TIMER_MS
        ? setTimeout(() => {
            socket.emit('request:error', {
              event: 'connection',
              code: 'token_expired',
              message: 'the token expired; ask a moderator for a new invite link',
            });
            socket.disconnect(true);
          }, remainingMs)
        : undefined;

    socket.on('disconnect', (reason) => {
      clearTimeout(expiry);
      this.#limiter.forget(socket.id);
      log[presenceLevel]('participant left', { reason });
      live.leave(participant.id);
      if (live.isEmpty) this.#deps.live.close(assemblyId);
    });

    socket.on('presence:list', (payload, ack) =>
      this.#handle(socket, 'presence:list', ack, null, () => {
        emptyPayload(payload ?? {}, 'presence:list');
        return live.views.map(seen);
      }),
    );

    socket.on('program:cut', (payload, ack) =>
      this.#handle(socket, 'program:cut', ack, ['presenter', 'moderator'], async () => {
        const request = cutPayload(payload, 'program:cut');
        await live.cutTo(this.#programSource(assemblyId, request));
        return programWire(live.program);
      }),
    );

    socket.on('layout:set', (payload, ack) =>
      this.#handle(socket, 'layout:set', ack, ['moderator', 'operator'], async () => {
        const { cameras, ...changes } = layoutPayload(payload, 'layout:set');
        const current = this.#deps.assemblies.get(assemblyId);
        // The live choice of cameras first (it is validated against who is connected), then the
        // stored settings, whose `updated` event applies them to the live assembly.
        await live.setLayout({
          layout: changes.layout,
          maxTiles: changes.maxTiles ?? current.maxTiles,
          cameras:
            cameras === undefined
              ? live.layout.cameras
              : cameras === null
                ? undefined
                : (cameras as CameraId[]),
        });
        return toView(this.#deps.assemblies.update(this.#actor(socket), assemblyId, changes));
      }),
    );

    socket.on('reaction:send', (payload, ack) =>
      this.#handle(socket, 'reaction:send', ack, null, () => {
        const { reaction, at } = reactionPayload(payload, 'reaction:send');
        const now = Date.now();
        if (at !== undefined && (at > now + REACTION_AHEAD_MS || at < now - REACTION_BEHIND_MS)) {
          throw new InvalidArgumentError(
            'reaction:send.at must be the program time on screen (Unix ms), not in the future ' +
              'and at most a week old',
          );
        }
        if (!live.react(participant.id, reaction, at)) {
          throw new RateLimitedError('too many reactions; a few a second are counted');
        }
        return null;
      }),
    );

    const thumbnails = new ThumbnailGate();
    socket.on('camera:thumbnail', (payload, ack) =>
      this.#handle(socket, 'camera:thumbnail', ack, ['camera'], () => {
        const jpeg = thumbnailPayload(payload, 'camera:thumbnail');
        thumbnails.admit();
        // A camera whose media has not started yet has no id to show it under.
        const cameraId = participant.cameraId;
        if (cameraId !== undefined) {
          this.#io.to(crew(assemblyId)).emit('camera:thumbnail', { cameraId, jpeg });
        }
        return null;
      }),
    );

    socket.on('camera:offer', (payload, ack) =>
      this.#handle(socket, 'camera:offer', ack, ['camera'], async () => {
        const { sdp } = sdpPayload(payload, 'camera:offer');
        return { sdp: await live.offerCamera(participant.id, sdp) };
      }),
    );

    socket.on('camera:candidate', (payload, ack) =>
      this.#handle(socket, 'camera:candidate', ack, ['camera'], async () => {
        await live.addCameraCandidate(
          participant.id,
          candidatePayload(payload, 'camera:candidate'),
        );
        return null;
      }),
    );

    socket.on('monitor:offer', (payload, ack) =>
      this.#handle(socket, 'monitor:offer', ack, ['presenter', 'moderator'], async () => {
        const { sdp } = sdpPayload(payload, 'monitor:offer');
        return { sdp: await live.offerMonitor(participant.id, sdp) };
      }),
    );

    socket.on('monitor:candidate', (payload, ack) =>
      this.#handle(socket, 'monitor:candidate', ack, ['presenter', 'moderator'], async () => {
        await live.addMonitorCandidate(
          participant.id,
          candidatePayload(payload, 'monitor:candidate'),
        );
        return null;
      }),
    );

    socket.on('camera:mute', (payload, ack) =>
      this.#handle(socket, 'camera:mute', ack, ['moderator'], async () => {
        const { cameraId, muted } = mutePayload(payload, 'camera:mute');
        await live.muteCamera(cameraId as CameraId, muted);
        return null;
      }),
    );

    socket.on('camera:rename', (payload, ack) =>
      this.#handle(socket, 'camera:rename', ack, ['moderator'], () => {
        const { cameraId, name } = renamePayload(payload, 'camera:rename');
        live.renameCamera(cameraId as CameraId, name);
        return null;
      }),
    );

    socket.on('assembly:golive', (payload, ack) =>
      this.#handle(socket, 'assembly:golive', ack, ['presenter', 'moderator'], () => {
        emptyPayload(payload ?? {}, 'assembly:golive');
        // Stored and audited; the `updated` event starts the delivery and the recording.
        return toView(this.#deps.assemblies.goLive(this.#actor(socket), assemblyId));
      }),
    );

    socket.on('assembly:end', (payload, ack) =>
      this.#handle(socket, 'assembly:end', ack, ['presenter', 'moderator'], () => {
        emptyPayload(payload ?? {}, 'assembly:end');
        return toView(this.#deps.assemblies.end(this.#actor(socket), assemblyId));
      }),
    );

    socket.on('camera:remove', (payload, ack) =>
      this.#handle(socket, 'camera:remove', ack, ['moderator'], async () => {
        const { cameraId } = cameraIdPayload(payload, 'camera:remove');
        await live.removeCamera(cameraId as CameraId);
        return null;
      }),
    );

    socket.on('library:list', (payload, ack) =>
      this.#handle(socket, 'library:list', ack, ['presenter', 'moderator'], async () => {
        emptyPayload(payload ?? {}, 'library:list');
        const videos = this.#deps.library.list(assemblyId);
        const previews = await this.#clips.describe(
          assemblyId,
          videos.map((video) => video.name),
        );
        return {
          scope: this.#deps.library.scope,
          videos: videos.map((video, i) => ({
            name: video.name,
            url: `/api/assemblies/${assemblyId}/library/${encodeURIComponent(video.name)}`,
            durationMs: previews[i]?.durationMs ?? null,
            width: previews[i]?.width ?? null,
            height: previews[i]?.height ?? null,
            poster: previews[i]?.poster ?? null,
          })),
        };
      }),
    );

    socket.on('preview:set', (payload, ack) =>
      this.#handle(socket, 'preview:set', ack, ['presenter', 'moderator'], async () => {
        const request = cutPayload(payload, 'preview:set');
        await live.setPreview(this.#programSource(assemblyId, request));
        return programWire(live.preview);
      }),
    );

    socket.on('preview:take', (payload, ack) =>
      this.#handle(socket, 'preview:take', ack, ['presenter', 'moderator'], async () => {
        emptyPayload(payload ?? {}, 'preview:take');
        await live.take();
        return { program: programWire(live.program), preview: programWire(live.preview) };
      }),
    );

    socket.on('preview:offer', (payload, ack) =>
      this.#handle(socket, 'preview:offer', ack, ['presenter', 'moderator'], async () => {
        const { sdp } = sdpPayload(payload, 'preview:offer');
        return { sdp: await live.offerPreviewMonitor(participant.id, sdp) };
      }),
    );

    socket.on('preview:candidate', (payload, ack) =>
      this.#handle(socket, 'preview:candidate', ack, ['presenter', 'moderator'], async () => {
        await live.addPreviewCandidate(
          participant.id,
          candidatePayload(payload, 'preview:candidate'),
        );
        return null;
      }),
    );

    socket.on('recording:set', (payload, ack) =>
      this.#handle(socket, 'recording:set', ack, ['moderator'], () => {
        const { on } = recordingPayload(payload, 'recording:set');
        // Stored like every setting; the `updated` event starts or stops the RecorderEndpoint.
        this.#deps.assemblies.update(this.#actor(socket), assemblyId, { recording: on });
        return { on };
      }),
    );
  }

  #actor(socket: SignalingSocket): string {
    const { claims, assemblyId } = socket.data;
    return claims.assembly === ALL_ASSEMBLIES ? claims.role : `${claims.role}@${assemblyId}`;
  }

  /** The live assembly, created (and its events forwarded to its room) on first use. */
  #liveAssembly(assemblyId: AssemblyId): LiveAssembly {
    const existing = this.#deps.live.find(assemblyId);
    if (existing !== undefined) return existing;
    const live = this.#deps.live.open(assemblyId, this.#deps.assemblies.get(assemblyId));
    const to = () => this.#io.to(room(assemblyId));
    const one = (participant: string) => this.#io.to(personal(participant));
    const crewRoom = () => this.#io.to(crew(assemblyId));
    // Cameras and crew come and go individually to the crew only (the panel and the studio list
    // the cameras); viewers are only counted, once a second (`viewers` below).
    live.on('joined', (participant) =>
      crewRoom().emit('participant:joined', participantWire(live.view(participant))),
    );
    // A camera's name, mute or picture changed: the crew and the camera's own page are told.
    live.on('cameraChanged', (_camera, participant) => {
      if (participant === undefined) return;
      const wire = participantWire(live.view(participant));
      crewRoom().to(personal(participant.id)).emit('participant:updated', wire);
    });
    live.on('layoutChanged', (cameras) =>
      crewRoom().emit('layout:changed', { cameras: cameras === undefined ? null : [...cameras] }),
    );
    live.on('left', (participant) => crewRoom().emit('participant:left', { id: participant.id }));
    live.on('programChanged', (program) =>
      to().emit('program:changed', { source: programWire(program) }),
    );
    live.on('progress', (progress) => to().emit('program:progress', progress));
    live.on('cameraCandidate', (participant, candidate) =>
      one(participant).emit('camera:candidate', candidate),
    );
    live.on('monitorCandidate', (participant, candidate) =>
      one(participant).emit('monitor:candidate', candidate),
    );
    live.on('previewChanged', (preview) =>
      crewRoom().emit('preview:changed', { source: programWire(preview) }),
    );
    live.on('previewCandidate', (participant, candidate) =>
      one(participant).emit('preview:candidate', candidate),
    );
    live.on('tilesChanged', (cameraIds) => crewRoom().emit('tiles:changed', { cameraIds }));
    live.on('onAir', (participant, onAir) => one(participant).emit('camera:onAir', { onAir }));
    // The crew's panel and the viewers' watch page show the count; cameras do not.
    live.on('viewers', (count) =>
      this.#io.to(crew(assemblyId)).to(audience(assemblyId)).emit('viewers:count', { count }),
    );
    live.on('reactions', (counts, totals) => to().emit('reactions:tick', { counts, totals }));
    live.on('removed', (participant) => {
      // Said before closing: the camera page shows it and does not reconnect.
      one(participant).emit('request:error', {
        event: 'connection',
        code: 'removed',
        message: 'The moderator removed this camera from the assembly.',
      });
      this.#io.in(personal(participant)).disconnectSockets(true);
    });
    live.on('replaced', (participant) => {
      // Said before closing, so a page still alive (a duplicated tab) can tell the person why.
      one(participant).emit('request:error', {
        event: 'connection',
        code: 'camera_reconnected',
        message: 'this camera connected again from another page or connection; this one is closed',
      });
      this.#io.in(personal(participant)).disconnectSockets(true);
    });
    live.on('mediaReset', () => to().emit('media:reset'));
    live.on('videoFailed', ({ source, back, type, description }) => {
      const name = source.kind === 'video' ? source.name : 'the video';
      this.#io.to(crew(assemblyId)).emit('program:failed', {
        source: programWire(source),
        back: programWire(back),
        type,
        description,
        message: `${name} could not be played (${type}: ${description}); the program went back to ${
          back.kind === 'composite'
            ? 'the composite'
            : back.kind === 'camera'
              ? 'the camera'
              : back.name
        }.`,
      });
    });
    live.on('recordingFailed', (failure) => {
      this.#log.warn('recording failed', { assembly: assemblyId, ...failure });
      this.#io.to(crew(assemblyId)).emit('recording:failed', failure);
      // The setting follows what happens: recording is off until someone turns it on again.
      try {
        this.#deps.assemblies.update('system', assemblyId, { recording: false });
      } catch (error) {
        this.#log.warn('recording off after a failure could not be stored', {
          assembly: assemblyId,
          error: String(error),
        });
      }
    });
    return live;
  }

  /** What a cut asks for; a video file is looked up in `assemblyId`'s library (its scope). */
  #programSource(assemblyId: AssemblyId, request: CutRequest): ProgramSource {
    switch (request.source) {
      case 'composite':
        return { kind: 'composite' };
      case 'camera':
        return { kind: 'camera', cameraId: request.cameraId as CameraId };
      case 'video':
        return {
          kind: 'video',
          name: 'file' in request ? request.file : request.url,
          uri: this.#deps.videos.resolve(assemblyId, request),
        };
    }
  }

  /**
   * Runs one client request: role check, then `work`, and answers through the ack, or with
   * `request:error` when the client sent none (a malformed message may lack it).
   */
  #handle<T>(
    socket: SignalingSocket,
    event: keyof ClientToServerEvents,
    ack: unknown,
    roles: readonly Role[] | null,
    work: () => T | Promise<T>,
  ): void {
    const answer = (reply: Reply<T>): void => {
      if (typeof ack === 'function') {
        (ack as (reply: Reply<T>) => void)(reply);
      } else if (!reply.ok) {
        socket.emit('request:error', { event, ...reply.error });
      }
    };
    const fail = (error: unknown): void => {
      const { error: wire, unexpected } = toWireError(error);
      if (unexpected) this.#log.error('socket request failed', { event, error: String(error) });
      answer({ ok: false, error: wire });
    };
    try {
      if (!READ_ONLY_EVENTS.has(event) && !this.#limiter.take(socket.id)) {
        throw new RateLimitedError(
          `too many requests on this connection: at most ${this.#limiter.perMinute} a minute ` +
            '(MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE); wait a few seconds and try again',
        );
      }
      const role = socket.data.claims.role;
      if (roles !== null && !roles.includes(role)) {
        throw new ForbiddenRoleError(role, roles, `send ${event}`);
      }
      Promise.resolve(work()).then((data) => answer({ ok: true, data }), fail);
    } catch (error) {
      fail(error);
    }
  }
}
