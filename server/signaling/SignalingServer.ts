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
import { toView, type Assemblies } from '../domain/Assemblies.js';
import { InvalidArgumentError } from '../domain/errors.js';
import type { AssemblyId, CameraId } from '../domain/ids.js';
import { parseAssemblyId } from '../domain/ids.js';
import type {
  LiveAssemblies,
  LiveAssembly,
  Participant,
  ProgramSource,
} from '../domain/LiveAssemblies.js';
import type { VideoSources } from '../domain/VideoSources.js';
import type { Logger } from '../log.js';
import { LAYOUTS } from '../store/AssemblyStore.js';
import { LIMITS } from '../domain/Assemblies.js';
import { toWireError } from '../wire/errors.js';
import { integer, object, oneOf, optional, string, type Check } from '../wire/validate.js';
import {
  REACTIONS,
  type ClientToServerEvents,
  type CutRequest,
  type ParticipantWire,
  type Reply,
  type ServerToClientEvents,
} from './events.js';

interface SocketData {
  claims: TokenClaims;
  assemblyId: AssemblyId;
  participant: Participant;
}

type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, object, SocketData>;

/** Signaling messages carry SDP and candidates at most; refuse anything much larger. */
const MAX_MESSAGE_BYTES = 256 * 1024;
/** Longest delay setTimeout supports (about 24.8 days); longer-lived tokens are not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const id = string({ max: 64, pattern: /^[A-Za-z0-9_-]+$/, what: 'an id' });
const emptyPayload = object({});
const layoutPayload = object({
  layout: oneOf(LAYOUTS),
  maxTiles: optional(integer(1, LIMITS.maxTiles)),
});
const reactionPayload = object({ reaction: oneOf(REACTIONS) });

/** A program cut: the shape depends on `source`, so the fields are checked per kind. */
const cutPayload: Check<CutRequest> = (value, path) => {
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

function participantWire(participant: Participant): ParticipantWire {
  return { ...participant };
}

function room(assemblyId: AssemblyId): string {
  return `assembly:${assemblyId}`;
}

export interface SignalingDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  live: LiveAssemblies;
  videos: VideoSources;
  logger: Logger;
}

export class SignalingServer {
  readonly #io: Server<ClientToServerEvents, ServerToClientEvents, object, SocketData>;
  readonly #deps: SignalingDeps;
  readonly #log: Logger;

  constructor(httpServer: HttpServer, deps: SignalingDeps) {
    this.#deps = deps;
    this.#log = deps.logger;
    this.#io = new Server(httpServer, { serveClient: false, maxHttpBufferSize: MAX_MESSAGE_BYTES });
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
    });
  }

  /** Disconnects every client and stops accepting new ones (the HTTP server is not closed). */
  async close(): Promise<void> {
    this.#io.disconnectSockets(true);
    // io.close() would also close the HTTP server, which the App owns; close the engine only.
    this.#io.engine.close();
    this.#deps.live.closeAll();
    await Promise.resolve();
  }

  #authenticate(socket: SignalingSocket): void {
    const auth = socket.handshake.auth as { token?: unknown; assembly?: unknown };
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
    this.#deps.assemblies.get(assemblyId);
    socket.data.claims = claims;
    socket.data.assemblyId = assemblyId;
  }

  #onConnection(socket: SignalingSocket): void {
    const { claims, assemblyId } = socket.data;
    const live = this.#liveAssembly(assemblyId);
    const participant = live.join(claims.role);
    socket.data.participant = participant;
    void socket.join(room(assemblyId));
    const log = this.#log.child({ assembly: assemblyId, participant: participant.id });
    log.info('participant joined', { role: claims.role });

    socket.emit('welcome', {
      assembly: toView(this.#deps.assemblies.get(assemblyId)),
      you: participantWire(participant),
      participants: live.participants.map(participantWire),
      program: live.program,
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
      log.info('participant left', { reason });
      live.leave(participant.id);
      if (live.isEmpty) this.#deps.live.close(assemblyId);
    });

    socket.on('presence:list', (payload, ack) =>
      this.#handle(socket, 'presence:list', ack, null, () => {
        emptyPayload(payload ?? {}, 'presence:list');
        return live.participants.map(participantWire);
      }),
    );

    socket.on('program:cut', (payload, ack) =>
      this.#handle(socket, 'program:cut', ack, ['presenter', 'moderator'], () => {
        const request = cutPayload(payload, 'program:cut');
        live.cutTo(this.#programSource(request));
        return live.program;
      }),
    );

    socket.on('layout:set', (payload, ack) =>
      this.#handle(socket, 'layout:set', ack, ['moderator', 'operator'], () => {
        const changes = layoutPayload(payload, 'layout:set');
        const actor =
          claims.assembly === ALL_ASSEMBLIES ? claims.role : `${claims.role}@${assemblyId}`;
        return toView(this.#deps.assemblies.update(actor, assemblyId, changes));
      }),
    );

    socket.on('reaction:send', (payload, ack) =>
      this.#handle(socket, 'reaction:send', ack, null, () => {
        const { reaction } = reactionPayload(payload, 'reaction:send');
        this.#io.to(room(assemblyId)).emit('reaction', { reaction, role: claims.role });
        return null;
      }),
    );
  }

  /** The live assembly, created (and its events forwarded to its room) on first use. */
  #liveAssembly(assemblyId: AssemblyId): LiveAssembly {
    const existing = this.#deps.live.find(assemblyId);
    if (existing !== undefined) return existing;
    const live = this.#deps.live.open(assemblyId);
    const to = () => this.#io.to(room(assemblyId));
    live.on('joined', (participant) =>
      to().emit('participant:joined', participantWire(participant)),
    );
    live.on('left', (participant) => to().emit('participant:left', { id: participant.id }));
    live.on('programChanged', (program) => to().emit('program:changed', program));
    return live;
  }

  #programSource(request: CutRequest): ProgramSource {
    switch (request.source) {
      case 'composite':
        return { kind: 'composite' };
      case 'camera':
        return { kind: 'camera', cameraId: request.cameraId as CameraId };
      case 'video':
        return { kind: 'video', uri: this.#deps.videos.resolve(request) };
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
    work: () => T,
  ): void {
    let reply: Reply<T>;
    try {
      const role = socket.data.claims.role;
      if (roles !== null && !roles.includes(role)) {
        throw new ForbiddenRoleError(role, roles, `send ${event}`);
      }
      reply = { ok: true, data: work() };
    } catch (error) {
      const { error: wire, unexpected } = toWireError(error);
      if (unexpected) this.#log.error('socket request failed', { event, error });
      reply = { ok: false, error: wire };
    }
    if (typeof ack === 'function') {
      (ack as (reply: Reply<T>) => void)(reply);
    } else if (!reply.ok) {
      socket.emit('request:error', { event, ...reply.error });
    }
  }
}
