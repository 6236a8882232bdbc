/**
 * The socket.io protocol between the pages and the app server, as typed event maps. This file
 * imports nothing so that the browser bundles (public/src) can import its types too.
 *
 * Handshake: `io(url, { auth: { token, assembly?, cameraKey? } })`. The token names the
 * assembly; `assembly` is the one the page wants to join and must match it (operators, whose
 * tokens cover every assembly, must name one). A refused handshake arrives as `connect_error`
 * with `err.message` and `err.data = { code, message }`.
 *
 * `cameraKey` (camera pages only; 22 to 64 letters, digits, '-' or '_', at least 128 random
 * bits) is a secret the page keeps for its tab in sessionStorage. A camera that connects again
 * with the key of a camera still in the assembly gets that camera back (same `cameraId` in its
 * welcome, same tile and place in the grid, same mute): one whose connection dropped less than
 * the grace period ago (MONTAGE_CAMERA_GRACE_MS), or one still connected, whose older
 * connection is then closed after a `request:error` with code `camera_reconnected`. Without a
 * key, or later, the page joins as a new camera.
 *
 * Ending a connection for good, the server first sends `request:error` with `event:
 * 'connection'` and a code saying why, then disconnects; the page should not reconnect:
 * - `removed`: a moderator removed this camera (`camera:remove`). Its camera key is refused at
 *   the handshake from then on (code `removed`), so a reload does not bring it back; a fresh
 *   page with the same link (a new key) is a new camera, unless the link is revoked too.
 * - `token_revoked`: a moderator revoked the invite link this connection's token came from
 *   (POST /api/assemblies/:id/invites/:inviteId/revoke). Every connection opened with it ends,
 *   and a new handshake with it is refused with the same code.
 * - `token_expired`: the token expired while connected.
 * - `camera_reconnected`: see above.
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
  /**
   * backstage: cameras join and the crew rehearses on the monitors, viewers see a "starting
   * soon" slate and nothing reaches the edges; live: the program goes out (and is recorded when
   * `recording` is on); ended: for good (viewers are told, the media is released).
   */
  phase: PhaseWire;
  /** When it went live (ISO 8601), once it did. */
  wentLiveAt?: string;
  endedAt?: string;
  /**
   * A public event: anyone with the id may watch without a viewer token (an operator's choice,
   * `PUT /api/assemblies/:id/public-watch`). A server from before it sends none.
   */
  publicWatch?: boolean;
  createdAt: string;
  updatedAt: string;
}

export type PhaseWire = 'backstage' | 'live' | 'ended';

/**
 * Whether a camera's picture reaches the server: waiting (joined, none yet), live, or none (it
 * never came within 10 s, or it stopped): such a camera is out of the mix until it comes back.
 */
export type PictureWire = 'waiting' | 'live' | 'none';

export interface ParticipantWire {
  id: string;
  role: RoleWire;
  cameraId: string | undefined;
  viewerId: string | undefined;
  joinedAt: string;
  /**
   * Cameras only, all owned by the server and the same on every page: the camera's name (its
   * invite's room label, a moderator's rename, or "Camera N"), its place in the grid when every
   * camera is shown (1, 2, 3… in the order cameras first joined; kept across reconnects, reloads
   * and media rebuilds), the moderator's mute (audio only) and its picture state.
   */
  name?: string | undefined;
  slot?: number | undefined;
  muted?: boolean | undefined;
  picture?: PictureWire | undefined;
  /**
   * A camera's invite link (the id the invites REST lists), so that the panel can offer to
   * revoke it after removing the camera. Sent to the crew only; undefined for everyone else.
   */
  inviteId?: string | undefined;
}

/** What the program shows; a video is named as the presenter chose it (library file or URL). */
export type ProgramWire =
  { kind: 'composite' } | { kind: 'camera'; cameraId: string } | { kind: 'video'; name: string };

/** An ICE candidate, both directions, exactly as RTCPeerConnection produces and takes it. */
export interface IceCandidateWire {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

/** Whose library an assembly sees (server/domain/MediaLibrary.ts, MONTAGE_LIBRARY_SCOPE). */
export type LibraryScopeWire = 'assembly' | 'school';

/** A video in the media library; `url` serves the file (GET, with the bearer token) for previews. */
export interface LibraryVideoWire {
  name: string;
  url: string;
  /** Its length (ffprobe, once per file); null when it could not be read. */
  durationMs: number | null;
  /** Its picture size (ffprobe, once per file); null when it could not be read. */
  width: number | null;
  height: number | null;
  /** Its first frame as a 160x90 JPEG data: URL (ffmpeg, once per file); null if unreadable. */
  poster: string | null;
}

export interface WelcomeWire {
  assembly: AssemblyWire;
  you: ParticipantWire;
  /**
   * The cameras and crew (presenters, moderators, operators) connected now, `you` included
   * unless you are a viewer. Viewers are counted in `viewers`, never listed: a whole-school
   * assembly has thousands.
   */
  participants: ParticipantWire[];
  program: ProgramWire;
  /** Viewers connected now (the same figure `viewers:count` updates). */
  viewers: number;
  /** The live choice of cameras in the layout (`layout:set` `cameras`); null: every camera. */
  layoutCameras: string[] | null;
  /** Reactions counted since the assembly opened, by reaction. */
  reactionTotals: Record<string, number>;
  /** What the assembly's preview shows (shared by every studio); `preview:changed` updates it. */
  preview: ProgramWire;
  /**
   * The cameras whose picture is in the composite now, in display order (the server's tiles:
   * grid cells left to right, top to bottom; spotlight the first; picture-in-picture the first
   * full frame and the second inset). `tiles:changed` updates it.
   */
  tiles: string[];
  /**
   * To the crew only: the media folders running out of space now (empty when none is);
   * `disk:warnings` updates it.
   */
  diskWarnings?: DiskWarningWire[];
}

/** A folder with less free space than MONTAGE_DISK_WARN_FREE_MB. */
export interface DiskWarningWire {
  /** `recordings`: program recordings; `hls`: the local edge's live video. */
  kind: 'recordings' | 'hls';
  /** The folder on the server. */
  path: string;
  /** Free space left, in MiB. */
  freeMb: number;
  /** The warning threshold, in MiB. */
  thresholdMb: number;
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
  /** The cameras and crew connected to the assembly (viewers are counted, not listed). Any role. */
  'presence:list': (payload: Record<string, never>, ack: Ack<ParticipantWire[]>) => void;
  /** Cut the program. Presenter or moderator. */
  'program:cut': (payload: CutRequest, ack: Ack<ProgramWire>) => void;
  /**
   * Change the composite layout. Moderator or operator. `maxTiles` (1 to 25) is stored with the
   * assembly. `cameras` is the live choice of cameras, in display order: absent keeps the current
   * choice, null shows every camera (in the order they joined), a list shows only those (each
   * must be connected; at most 25, no repeats). Spotlight shows the first chosen camera,
   * picture-in-picture the first full frame and the second in the inset.
   */
  'layout:set': (
    payload: { layout: LayoutWire; maxTiles?: number; cameras?: string[] | null },
    ack: Ack<AssemblyWire>,
  ) => void;
  /**
   * Send a reaction to everyone in the assembly. Any role. `at`: the program time on the
   * sender's screen (Unix ms, its EXT-X-PROGRAM-DATE-TIME), where the reaction is stored and
   * replayed; now when absent.
   */
  'reaction:send': (payload: { reaction: Reaction; at?: number }, ack: Ack<null>) => void;

  // Media signaling (cameras, the program monitor) and the moderator's media controls.
  /** A camera publishes: its SDP offer, answered with the server's SDP answer. Camera. */
  'camera:offer': (payload: { sdp: string }, ack: Ack<{ sdp: string }>) => void;
  /** A trickled ICE candidate of the camera's peer connection. Camera. */
  'camera:candidate': (payload: IceCandidateWire, ack: Ack<null>) => void;
  /** A receive-only monitor of the program: SDP offer in, SDP answer back. Presenter, moderator. */
  'monitor:offer': (payload: { sdp: string }, ack: Ack<{ sdp: string }>) => void;
  /** A trickled ICE candidate of the monitor's peer connection. */
  'monitor:candidate': (payload: IceCandidateWire, ack: Ack<null>) => void;
  /** Mute or unmute a camera in the mix. Moderator. */
  /**
   * A small JPEG of the camera's own preview (about 160x90, at most 48 kB, at most one a
   * second), relayed to the crew as the panel's and studio's live thumbnail. Camera.
   */
  'camera:thumbnail': (payload: { jpeg: ArrayBuffer }, ack?: Ack<null>) => void;
  'camera:mute': (payload: { cameraId: string; muted: boolean }, ack: Ack<null>) => void;
  /** Rename a camera (1 to 40 printable characters, e.g. "Room 12"). Moderator. */
  'camera:rename': (payload: { cameraId: string; name: string }, ack: Ack<null>) => void;
  /**
   * Backstage → live: the program starts reaching the viewers and the edges' history, and the
   * recording starts if it is on. A no-op when live; refused (`wrong_phase`) once ended.
   * Presenter, moderator.
   */
  'assembly:golive': (payload: Record<string, never>, ack: Ack<AssemblyWire>) => void;
  /**
   * End the assembly for good: viewers see that it ended, the recording is finalized, the
   * program's delivery stops and the media is released. Presenter, moderator.
   */
  'assembly:end': (payload: Record<string, never>, ack: Ack<AssemblyWire>) => void;
  /**
   * Remove a camera from the assembly. Moderator. The camera's page is told (`request:error`
   * code `removed`) and disconnected, and its camera key is refused from then on.
   */
  'camera:remove': (payload: { cameraId: string }, ack: Ack<null>) => void;
  /**
   * The media library: videos that can be cut to, those of the assembly's library. `scope` says
   * whose library it is: this assembly's alone, or the school's, shared by every assembly
   * (MONTAGE_LIBRARY_SCOPE). Presenter, moderator.
   */
  'library:list': (
    payload: Record<string, never>,
    ack: Ack<{ scope: LibraryScopeWire; videos: LibraryVideoWire[] }>,
  ) => void;
  /** Start or stop recording the program. Moderator. */
  'recording:set': (payload: { on: boolean }, ack: Ack<null>) => void;

  // Preview and take (the studio's multiview). One preview per assembly, shared by every studio.
  /**
   * Put a source on the preview; the same payload as `program:cut` (a camera must be connected,
   * a video is a library file or an allow-listed URL). Answers with the new preview; everyone in
   * the crew hears `preview:changed`. Presenter, moderator.
   */
  'preview:set': (payload: CutRequest, ack: Ack<ProgramWire>) => void;
  /**
   * Take: the preview goes on the program (as `program:cut` would put it there) and the former
   * program goes to the preview. Payload `{}`. Presenter, moderator.
   */
  'preview:take': (
    payload: Record<string, never>,
    ack: Ack<{ program: ProgramWire; preview: ProgramWire }>,
  ) => void;
  /**
   * A receive-only, video-only monitor of the preview: SDP offer in, SDP answer back. Offer
   * again after `media:reset`. Presenter, moderator.
   */
  'preview:offer': (payload: { sdp: string }, ack: Ack<{ sdp: string }>) => void;
  /** A trickled ICE candidate of the preview monitor's peer connection. Presenter, moderator. */
  'preview:candidate': (payload: IceCandidateWire, ack: Ack<null>) => void;
}

export interface ServerToClientEvents {
  welcome: (welcome: WelcomeWire) => void;
  /**
   * To the crew of every assembly: the media folders running out of space changed (a folder ran
   * low, its free space changed while low, or its space is back: then it is no longer listed).
   */
  'disk:warnings': (state: { warnings: DiskWarningWire[] }) => void;
  /**
   * To the crew (presenters, moderators, operators): a camera or crew member connected. Viewers
   * are not announced one by one; `viewers:count` counts them.
   */
  'participant:joined': (participant: ParticipantWire) => void;
  /**
   * To the crew, and to the camera's own page: a camera's name, mute or picture state changed
   * (the whole participant, as in presence).
   */
  'participant:updated': (participant: ParticipantWire) => void;
  /** To the crew: the live choice of cameras in the layout changed (null: every camera). */
  'layout:changed': (layout: { cameras: string[] | null }) => void;
  /** To the crew: a camera or crew member's connection ended. */
  'participant:left': (participant: { id: string }) => void;
  'program:changed': (program: { source: ProgramWire }) => void;
  /** Position of the injected video while it is on the program, 4 times a second. */
  'program:progress': (progress: { positionMs: number; durationMs: number }) => void;
  /** To a camera page: the media server's ICE candidates for its endpoint. */
  'camera:candidate': (candidate: IceCandidateWire) => void;
  /** To a monitor: the media server's ICE candidates for its endpoint. */
  'monitor:candidate': (candidate: IceCandidateWire) => void;
  /** To the crew: the assembly's preview changed (`preview:set`, a take, its camera left). */
  'preview:changed': (preview: { source: ProgramWire }) => void;
  /** To a preview monitor: the media server's ICE candidates for its endpoint. */
  'preview:candidate': (candidate: IceCandidateWire) => void;
  /** To the crew: the cameras in the composite changed (in display order; see `welcome.tiles`). */
  'tiles:changed': (tiles: { cameraIds: string[] }) => void;
  /** To a camera page: whether its picture is on the program now (tally light). */
  'camera:onAir': (state: { onAir: boolean }) => void;
  /**
   * To presenters, moderators and operators: a camera's latest thumbnail (JPEG bytes; an
   * ArrayBuffer in the browser, sent from a Node Buffer).
   */
  'camera:thumbnail': (thumbnail: { cameraId: string; jpeg: ArrayBuffer | Uint8Array }) => void;
  /**
   * Reactions of the last second, by reaction (only sent when there were some), and the
   * assembly's totals so far (the same on every page, however late it opened).
   */
  'reactions:tick': (tick: {
    counts: Record<string, number>;
    totals: Record<string, number>;
  }) => void;
  /**
   * To the crew and the viewers: viewers connected, at most once a second and only when the
   * figure changed (a crowd joining costs one message a second, not one per viewer).
   */
  'viewers:count': (viewers: { count: number }) => void;
  /**
   * The media server restarted and the assembly's media was rebuilt: camera pages and monitors
   * must send a new `camera:offer` / `monitor:offer` (their old peer connections are dead).
   */
  'media:reset': () => void;
  /**
   * To the crew: the recording stopped because it could not be written (`type` is Kurento's
   * Error type, e.g. RESOURCE_ERROR_NO_SPACE_LEFT); the program goes on, and the assembly's
   * `recording` setting is turned off (an `assembly:updated` follows).
   */
  'recording:failed': (failure: { type: string; description: string }) => void;
  /**
   * To the crew: the video on the program failed while it played (`type` is Kurento's Error
   * type, e.g. STREAM_ERROR_DECODE or RESOURCE_ERROR_OPEN) and the program went back to `back`
   * (a `program:changed` follows). A video that fails before it is on air is an error on the
   * `program:cut` (code `video_failed`) instead, and the program never leaves its source.
   */
  'program:failed': (failure: {
    source: ProgramWire;
    back: ProgramWire;
    type: string;
    description: string;
    message: string;
  }) => void;
  'assembly:updated': (assembly: AssemblyWire) => void;
  /** The assembly was deleted; the server disconnects everyone right after. */
  'assembly:deleted': (assembly: { id: string }) => void;
  /**
   * A client event sent without an ack failed; or, with `event: 'connection'`, why the server
   * is about to close this connection for good (`removed`, `token_revoked`, `token_expired`,
   * `camera_reconnected`: see the top of this file).
   */
  'request:error': (failure: { event: string } & WireErrorBody) => void;
}
