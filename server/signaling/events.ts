/**
 * The socket.io protocol between the pages and the app server, as typed event maps. This file
 * imports nothing so that the browser bundles (public/src) can import its types too.
 *
 * Handshake: `io(url, { auth: { token, assembly? } })`. The token names the assembly; `assembly`
 * is the one the page wants to join and must match it (operators, whose tokens cover every
 * assembly, must name one). A refused handshake arrives as `connect_error` with `err.message`
 * and `err.data = { code, message }`.
 *
 * Every client event is `(payload, ack)`; the ack receives `{ ok: true, data }` or
 * `{ ok: false, error: { code, message } }`. A client event sent without an ack that fails is
 * answered with `request:error` instead.
 */

export type RoleWire = 'camera' | 'presenter' | 'moderator' | 'viewer' | 'operator';
export type LayoutWire = 'grid' | 'spotlight' | 'pip';

export interface WireErrorBody {
  code: string;
  message: string;
}

export type Reply<T> = { ok: true; data: T } | { ok: false; error: WireErrorBody };
export type Ack<T> = (reply: Reply<T>) => void;

export interface AssemblyWire {
  id: string;
  name: string;
  layout: LayoutWire;
  maxTiles: number;
  recording: boolean;
  dvrMinutes: number;
  createdAt: string;
  updatedAt: string;
}

export interface ParticipantWire {
  id: string;
  role: RoleWire;
  cameraId: string | undefined;
  viewerId: string | undefined;
  joinedAt: string;
}

export type ProgramWire =
  { kind: 'composite' } | { kind: 'camera'; cameraId: string } | { kind: 'video'; uri: string };

export interface WelcomeWire {
  assembly: AssemblyWire;
  you: ParticipantWire;
  participants: ParticipantWire[];
  program: ProgramWire;
}

/** Program cuts as clients ask for them; a video is a library file or an allow-listed URL. */
export type CutRequest =
  | { source: 'composite' }
  | { source: 'camera'; cameraId: string }
  | { source: 'video'; file: string }
  | { source: 'video'; url: string };

export const REACTIONS = ['clap', 'heart', 'laugh', 'wow', 'question'] as const;
export type Reaction = (typeof REACTIONS)[number];

export interface ClientToServerEvents {
  /** Everyone connected to the assembly. Any role. */
  'presence:list': (payload: Record<string, never>, ack: Ack<ParticipantWire[]>) => void;
  /** Cut the program. Presenter or moderator. */
  'program:cut': (payload: CutRequest, ack: Ack<ProgramWire>) => void;
  /** Change the composite layout. Moderator or operator. */
  'layout:set': (
    payload: { layout: LayoutWire; maxTiles?: number },
    ack: Ack<AssemblyWire>,
  ) => void;
  /** Send a reaction to everyone in the assembly. Any role. */
  'reaction:send': (payload: { reaction: Reaction }, ack: Ack<null>) => void;
}

export interface ServerToClientEvents {
  welcome: (welcome: WelcomeWire) => void;
  'participant:joined': (participant: ParticipantWire) => void;
  'participant:left': (participant: { id: string }) => void;
  'program:changed': (program: ProgramWire) => void;
  'assembly:updated': (assembly: AssemblyWire) => void;
  /** The assembly was deleted; the server disconnects everyone right after. */
  'assembly:deleted': (assembly: { id: string }) => void;
  reaction: (reaction: { reaction: Reaction; role: RoleWire }) => void;
  /** A client event sent without an ack failed. */
  'request:error': (failure: { event: string } & WireErrorBody) => void;
}
