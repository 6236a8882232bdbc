import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import {
  NodeMediaServerCtor,
  RtmpClientSession,
  nmsContext,
  nmsLogger,
  type NmsRtmpClientSession,
  type NmsSession,
  type NodeMediaServer,
} from './nodeMediaServer.js';
import { guardRelayWrites } from './guardRelayWrites.js';
import { DEFAULT_MAX_READER_BACKLOG_BYTES, overBacklog } from './readerBacklog.js';
import { peerIsProcess } from './socketOwner.js';

/**
 * The name of one live stream on the origin and on every edge; Montage uses one per assembly.
 * node-media-server refuses any other characters in a stream path, so the type checks them.
 */
export type StreamName = string & { readonly __brand: 'StreamName' };

/** Identifies an edge the origin pushes to; the app server's edge registry owns the values. */
export type EdgeId = string & { readonly __brand: 'EdgeId' };

const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function streamName(value: string): StreamName {
  if (!SAFE_NAME.test(value)) {
    throw new TypeError(`stream name must match ${SAFE_NAME.source}: ${JSON.stringify(value)}`);
  }
  return value as StreamName;
}

/** The only RTMP application the origin serves; publishes and plays elsewhere are refused. */
export const ORIGIN_APP = 'live';

export interface RtmpOriginOptions {
  /** Listen address; loopback unless edges on other machines must reach the origin. */
  host?: string;
  /** RTMP port (default 1935). */
  port?: number;
  /**
   * The secret edges present when the origin pushes to them (`?secret=` on the edge publish).
   * Only characters that survive a URL unescaped are allowed, because it travels in a query.
   */
  edgeSecret: string;
  /**
   * How long a stream stays live after its publisher disconnects, so that a restarted bridge
   * resumes the same stream (timestamps continue, edges keep their HLS) instead of starting
   * a new one. Default 10 s.
   */
  publishGraceMs?: number;
  /** node-media-server's own log level (default `warn`). */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * The most bytes a reader (an edge pushed to, a player) may have unsent before its connection
   * is dropped (default 8 MiB; see readerBacklog.ts).
   */
  maxReaderBacklogBytes?: number;
}

/** Why a publish or play was refused, as the `rejected` event reports it. */
export type RejectReason = 'wrong-app' | 'unknown-stream' | 'bad-key' | 'play-not-allowed';

export interface StreamEvent {
  stream: StreamName;
  /** `address:port` of the publisher; empty when the stream was revoked (ended for good). */
  address: string;
}

/** Events of an `RtmpOrigin`, as a type map so a wrong listener fails to compile. */
export interface RtmpOriginEvents {
  /** A publisher with the right key started (also after a resume within the grace window). */
  publishStarted: [StreamEvent];
  /** The stream ended: its publisher left and did not come back within the grace window. */
  publishStopped: [StreamEvent];
  /** A publish or play was refused. `stream` is the raw name the client asked for. */
  rejected: [
    {
      kind: 'publish' | 'play';
      app: string;
      stream: string;
      address: string;
      reason: RejectReason;
    },
  ];
  /** A reader fell too far behind and its connection was dropped (it reconnects). */
  slowReader: [
    {
      kind: 'play' | 'push';
      stream: string;
      /** `address:port` of a player; the edge's id for a push. */
      reader: string;
      backlogBytes: number;
    },
  ];
}

interface LocalProcess {
  stream: StreamName;
  kind: 'publish' | 'play';
  pid: () => number | undefined;
}

interface EdgeTarget {
  /** `rtmp://host:port/live` of the edge's ingest application. */
  url: string;
  secret: string;
}

/**
 * The RTMP origin: node-media-server embedded in the app server. It accepts a publish only on
 * app `live`, for a stream the app server registered, with that stream's key; it relays every
 * live stream to every registered edge (the origin pushes, so edge configs never change when
 * an assembly starts and need no reload).
 *
 * node-media-server keeps its state in a module-level context, so there is one origin per
 * process; a second `start()` while one runs throws.
 */
export class RtmpOrigin extends EventEmitter<RtmpOriginEvents> {
  private static running: RtmpOrigin | undefined;

  readonly host: string;
  port: number;
  private readonly edgeSecret: string;
  private readonly publishGraceMs: number;
  private readonly logLevel: string;
  private readonly maxReaderBacklogBytes: number;
  /** node-media-server's own auth secret; never leaves the process (see `sign`). */
  private readonly internalSecret = randomBytes(24).toString('hex');
  private readonly keys = new Map<StreamName, string>();
  /**
   * The app's own processes (the program bridge, rendition encoders) that publish or play a
   * stream without a key or secret on their command line: each gives its running pid.
   */
  private readonly localProcesses = new Set<LocalProcess>();
  private readonly edges = new Map<EdgeId, EdgeTarget>();
  /** Live pushes by stream, then by edge. */
  private readonly pushes = new Map<StreamName, Map<EdgeId, NmsRtmpClientSession>>();
  private readonly live = new Set<StreamName>();
  /** What each stream last sent, across its publishers (see guardPackets). */
  private readonly timelines = new Map<StreamName, StreamTimeline>();
  private nms: NodeMediaServer | undefined;
  private readonly nmsListeners: Array<[string, (session: NmsSession) => void]> = [];

  constructor(options: RtmpOriginOptions) {
    super();
    if (!/^[A-Za-z0-9_-]{16,}$/.test(options.edgeSecret)) {
      throw new TypeError('edgeSecret must be at least 16 characters of [A-Za-z0-9_-]');
    }
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 1935;
    this.edgeSecret = options.edgeSecret;
    this.publishGraceMs = options.publishGraceMs ?? 10_000;
    this.logLevel = options.logLevel ?? 'warn';
    this.maxReaderBacklogBytes = options.maxReaderBacklogBytes ?? DEFAULT_MAX_READER_BACKLOG_BYTES;
  }

  /** Starts listening; resolves once the RTMP port is bound, rejects if it cannot be. */
  async start(): Promise<void> {
    if (RtmpOrigin.running !== undefined) {
      throw new Error('an RtmpOrigin is already running in this process');
    }
    RtmpOrigin.running = this;
    try {
      // No http port: no HTTP-FLV, no admin API, no web console; `auth.jwt` absent keeps the
      // API (and its default admin account) off. Auth on for publish and play makes every
      // session pass node-media-server's own signature check, which only sessions that our
      // hooks approved can pass (see `sign`).
      const nms = new NodeMediaServerCtor({
        bind: this.host,
        rtmp: { port: this.port },
        webadmin: { enable: false },
        auth: { publish: true, play: true, secret: this.internalSecret },
      });
      // The constructor turns node-media-server's logger up to debug for everyone.
      nmsLogger.level = this.logLevel;
      this.nms = nms;
      this.hook('prePublish', (session) => this.onPrePublish(session));
      this.hook('postPublish', (session) => this.onPostPublish(session));
      this.hook('donePublish', (session) => this.onDonePublish(session));
      this.hook('prePlay', (session) => this.onPrePlay(session));
      // node-media-server exits the process when its port is taken; fail this call instead.
      let listenError: Error | undefined;
      nms.rtmpServer.handleListenError = () => (error) => {
        listenError = error;
      };
      const server = nms.rtmpServer.tcpServer;
      if (server === undefined) throw new Error('node-media-server created no RTMP listener');
      const listening = Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([error]) => {
          throw listenError ?? (error as Error);
        }),
      ]);
      nms.rtmpServer.run();
      await listening;
      const address = server.address();
      if (typeof address === 'object' && address !== null) this.port = address.port;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the listener, every push and every session. Safe to call twice. */
  async stop(): Promise<void> {
    for (const stream of [...this.pushes.keys()]) this.stopPushes(stream);
    for (const [event, listener] of this.nmsListeners) nmsContext.eventEmitter.off(event, listener);
    this.nmsListeners.length = 0;
    const nms = this.nms;
    this.nms = undefined;
    if (nms !== undefined) {
      const closed =
        nms.rtmpServer.tcpServer?.listening === true
          ? once(nms.rtmpServer.tcpServer, 'close')
          : Promise.resolve();
      await nms.stop();
      await closed;
    }
    this.live.clear();
    if (RtmpOrigin.running === this) RtmpOrigin.running = undefined;
  }

  /** Allows one publish of `stream` with `key` (an assembly's stream key). */
  allowStream(stream: StreamName, key: string): void {
    if (key.length < 16) throw new TypeError('a stream key must be at least 16 characters');
    this.keys.set(stream, key);
  }

  /**
   * Lets the process whose pid `pid()` gives at the time (it changes when ffmpeg restarts)
   * publish or play `stream` at `localUrl(stream)`, with no key: the origin checks through /proc
   * that the connection is that process's own. Returns the function that withdraws it.
   */
  allowLocalProcess(
    stream: StreamName,
    kind: 'publish' | 'play',
    pid: () => number | undefined,
  ): () => void {
    const entry: LocalProcess = { stream, kind, pid };
    this.localProcesses.add(entry);
    return () => this.localProcesses.delete(entry);
  }

  /** The URL, with no key or secret, of a stream for a process `allowLocalProcess` allowed. */
  localUrl(stream: StreamName): string {
    return `rtmp://${this.urlHost()}:${this.port}/${ORIGIN_APP}/${stream}`;
  }

  /** Whether the session's connection belongs to a local process allowed for `kind`. */
  private isLocalProcess(session: NmsSession, kind: 'publish' | 'play'): boolean {
    for (const entry of this.localProcesses) {
      if (entry.kind !== kind || `/${ORIGIN_APP}/${entry.stream}` !== session.streamPath) continue;
      const pid = entry.pid();
      if (pid !== undefined && peerIsProcess(session.ip, this.port, pid)) return true;
    }
    return false;
  }

  /**
   * Forgets a stream's key and ends its publish, if any, for good: the stream is over (its
   * assembly ended), so there is no grace window to resume in. Its pushes stop now, so every
   * edge's publish ends and its playlist agent closes the stream's history (EXT-X-ENDLIST);
   * otherwise the pushes would reconnect to the edges with nothing to send until the grace
   * window closed, and each reconnect would open the history again.
   */
  revokeStream(stream: StreamName): void {
    this.keys.delete(stream);
    for (const entry of this.localProcesses) {
      if (entry.stream === stream) this.localProcesses.delete(entry);
    }
    for (const session of nmsContext.sessions.values()) {
      if (session.isPublisher && session.streamPath === `/${ORIGIN_APP}/${stream}`) session.close();
    }
    this.stopPushes(stream);
    if (this.live.delete(stream)) {
      this.timelines.delete(stream);
      this.emit('publishStopped', { stream, address: '' });
    }
  }

  /** The URL a publisher (the program bridge) pushes to, key included. */
  publishUrl(stream: StreamName): string {
    const key = this.keys.get(stream);
    if (key === undefined) throw new Error(`stream ${stream} is not allowed on the origin`);
    return `rtmp://${this.urlHost()}:${this.port}/${ORIGIN_APP}/${stream}?key=${encodeURIComponent(key)}`;
  }

  /** The URL an RTMP player (a monitoring tool, a pulling edge) plays, secret included. */
  playUrl(stream: StreamName): string {
    return `rtmp://${this.urlHost()}:${this.port}/${ORIGIN_APP}/${stream}?secret=${this.edgeSecret}`;
  }

  /** Whether the RTMP listener is up (between start() and stop()). */
  get listening(): boolean {
    return this.nms?.rtmpServer.tcpServer?.listening === true;
  }

  isLive(stream: StreamName): boolean {
    return this.live.has(stream);
  }

  liveStreams(): StreamName[] {
    return [...this.live];
  }

  /**
   * Registers an edge: every live stream (now and later) is pushed to `rtmp://…/live` of that
   * edge with the edge secret. Registering an id again replaces its URL.
   */
  addEdge(edge: EdgeId, ingestUrl: string): void {
    const url = new URL(ingestUrl);
    if (url.protocol !== 'rtmp:') throw new TypeError(`edge ingest must be rtmp://: ${ingestUrl}`);
    this.removeEdge(edge);
    this.edges.set(edge, { url: ingestUrl.replace(/\/+$/, ''), secret: this.edgeSecret });
    for (const stream of this.live) this.startPush(stream, edge);
  }

  /** Stops pushing to an edge (draining it); its viewers move elsewhere. */
  removeEdge(edge: EdgeId): void {
    this.edges.delete(edge);
    for (const perEdge of this.pushes.values()) {
      perEdge.get(edge)?.close();
      perEdge.delete(edge);
    }
  }

  /** Push state per edge for one stream, for the operator's view. */
  pushStatus(stream: StreamName): Array<{ edge: EdgeId; running: boolean; retries: number }> {
    const perEdge = this.pushes.get(stream) ?? new Map<EdgeId, NmsRtmpClientSession>();
    return [...perEdge].map(([edge, session]) => {
      const status = session.getStatus();
      return { edge, running: status.isRunning, retries: status.reconnectAttempts };
    });
  }

  private hook(event: string, listener: (session: NmsSession) => void): void {
    nmsContext.eventEmitter.on(event, listener);
    this.nmsListeners.push([event, listener]);
  }

  private urlHost(): string {
    return this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
  }

  private onPrePublish(session: NmsSession): void {
    this.guardPackets(session);
    const reason = this.checkPublish(session);
    if (reason === undefined) {
      this.sign(session);
      return;
    }
    // Without a valid signature node-media-server refuses the publish itself, before the
    // session becomes the stream's publisher, so a refused client never holds the stream.
    delete session.streamQuery.sign;
    this.emit('rejected', {
      kind: 'publish',
      app: session.streamApp,
      stream: session.streamName,
      address: session.ip,
      reason,
    });
  }

  /**
   * Only the stream's accepted publisher may feed it, from its first keyframe on.
   *
   * node-media-server refuses a publish by ending the socket, but it keeps parsing what the
   * refused client already sent and broadcasts its media into the live stream meanwhile: a
   * refused or rogue publish (no key, a wrong key, a second publisher) injected packets with its
   * own timestamps, which cut the edges' HLS into fragments of a few milliseconds. The parser's
   * packet callback is therefore wrapped so that packets pass only while this session is the
   * broadcast's publisher.
   *
   * A (re)started publisher sends audio before the first keyframe of its video. The edges open a
   * fragment at a keyframe and put the audio they hold into it, so that fragment's audio began
   * up to a second before its video. Audio and video frames therefore pass only from the first
   * keyframe on (codec headers and metadata always), unless no video comes at all; and audio
   * older than that keyframe is dropped even when it comes after it.
   *
   * After a pause in the stream the edges still hold the last audio from before it: nginx-rtmp
   * writes buffered audio into the fragment that is open when the next audio comes or, when a
   * keyframe comes first, into the new fragment that keyframe opens (it opens the fragment, then
   * flushes). That fragment's audio then starts as long before its video as the pause lasted:
   * 2.26 s after a bridge restart, and 160-174 ms after a mere stall. The bridge stamps packets
   * on arrival, so whenever the loaded machine holds the program back for a moment (the engine
   * or ffmpeg not scheduled, most often just after a pipeline rebuild) the stream goes on with a
   * burst whose timestamps jump past a gap in both audio and video, and when a keyframe opens
   * the burst, the audio buffered from before the gap began the new fragment (issue: a fragment
   * after a rebuilt pipeline had its audio start 174 ms before its video). So when a keyframe
   * follows a gap in both audio and video of more than PAUSE_GAP_MS, the stream's last audio
   * frame is sent again just before it, stamped 1 ms earlier: the edges flush what they held
   * into the fragment before the gap, and the new fragment's audio starts with the keyframe.
   * (The repeated frame is 21 ms of the last sound before the gap.)
   */
  private guardPackets(session: NmsSession): void {
    const parser = session.rtmp;
    if (parser === undefined) return;
    const deliver = parser.onPacketCallback;
    const stream = session.streamName as StreamName;
    let started = false;
    let firstAudioDts: number | undefined;
    /** The first keyframe's timestamp, until the audio has caught up with it. */
    let audioFrom: number | undefined;
    parser.onPacketCallback = (packet: unknown) => {
      if (session.broadcast?.publisher !== session) return;
      const { flags, dts } = packet as NmsPacket;
      if (audioFrom !== undefined && flags === NMS_AUDIO_FRAME) {
        // Bounded, so that a timestamp wrap (every 24.8 days) cannot hold audio back for good.
        const older = audioFrom - dts;
        if (older > 0 && older <= STALE_AUDIO_WINDOW_MS) return;
        audioFrom = undefined;
      }
      if (!started) {
        if (flags === NMS_VIDEO_KEYFRAME) {
          started = true;
          audioFrom = dts;
        } else if (flags === NMS_AUDIO_FRAME) {
          firstAudioDts ??= dts;
          // A program without video: its audio goes through after a moment.
          if (dts - firstAudioDts < AUDIO_ONLY_AFTER_MS) return;
          started = true;
        } else if (flags === NMS_VIDEO_FRAME) {
          return;
        }
      }
      const timeline = this.timelineOf(stream);
      if (flags === NMS_VIDEO_KEYFRAME) {
        const resend = afterPause(timeline, dts);
        if (resend !== undefined) deliver(resend);
      }
      if (flags === NMS_AUDIO_FRAME) {
        timeline.lastAudio = copyOf(packet as NmsPacket);
      } else if (flags === NMS_VIDEO_KEYFRAME || flags === NMS_VIDEO_FRAME) {
        timeline.lastVideoDts = dts;
      }
      deliver(packet);
    };
  }

  private timelineOf(stream: StreamName): StreamTimeline {
    let timeline = this.timelines.get(stream);
    if (timeline === undefined) {
      timeline = { lastAudio: undefined, lastVideoDts: undefined };
      this.timelines.set(stream, timeline);
    }
    return timeline;
  }

  private checkPublish(session: NmsSession): RejectReason | undefined {
    if (session.streamApp !== ORIGIN_APP) return 'wrong-app';
    const expected = this.keys.get(session.streamName as StreamName);
    if (expected === undefined) return 'unknown-stream';
    const given = session.streamQuery.key;
    if (given === undefined && this.isLocalProcess(session, 'publish')) return undefined;
    if (typeof given !== 'string' || !sameSecret(given, expected)) return 'bad-key';
    return undefined;
  }

  private onPrePlay(session: NmsSession): void {
    const given = session.streamQuery.secret;
    if (
      session.streamApp === ORIGIN_APP &&
      ((typeof given === 'string' && sameSecret(given, this.edgeSecret)) ||
        (given === undefined && this.isLocalProcess(session, 'play')))
    ) {
      this.sign(session);
      this.boundBacklog(session);
      return;
    }
    delete session.streamQuery.sign;
    this.emit('rejected', {
      kind: 'play',
      app: session.streamApp,
      stream: session.streamName,
      address: session.ip,
      reason: 'play-not-allowed',
    });
  }

  /** Drops a player that falls too far behind (see readerBacklog.ts). */
  private boundBacklog(session: NmsSession): void {
    const { socket, sendBuffer } = session;
    if (socket === undefined || sendBuffer === undefined) return;
    session.sendBuffer = (buffer) => {
      if (socket.destroyed) return;
      const dropped = overBacklog(socket, this.maxReaderBacklogBytes, (backlogBytes) =>
        this.emit('slowReader', {
          kind: 'play',
          stream: session.streamName,
          reader: session.ip,
          backlogBytes,
        }),
      );
      if (!dropped) sendBuffer(buffer);
    };
  }

  /**
   * node-media-server's hooks are notifications: a listener cannot veto. Its built-in auth can,
   * so the origin turns that on with a secret only this process knows and writes a valid
   * signature into the sessions its own checks approved.
   */
  private sign(session: NmsSession): void {
    const expires = Math.floor(Date.now() / 1000) + 60;
    const hash = createHash('md5')
      .update(`${session.streamPath}-${expires}-${this.internalSecret}`)
      .digest('hex');
    session.streamQuery.sign = `${expires}-${hash}`;
  }

  private onPostPublish(session: NmsSession): void {
    const stream = session.streamName as StreamName;
    const broadcast = nmsContext.broadcasts.get(session.streamPath);
    // node-media-server announces a publish before it checks that the stream has no publisher
    // yet; a second publisher is refused right after this, and changes nothing here.
    if (broadcast !== undefined && broadcast.publisher !== null) return;
    if (broadcast !== undefined) {
      broadcast.publishGraceMs = this.publishGraceMs;
      // A publisher that resumes within the grace window gets each codec's timestamps shifted
      // past the previous session's last ones, separately per codec, which moves audio against
      // video by however far apart the two codecs ended. Program streams carry the program
      // clock (server/hls/programClock.ts), whose timestamps continue by themselves: no shift.
      broadcast._dtsOffset = {};
      // A resumed publish keeps the broadcast, and with it the last GOP of the previous
      // publisher. A push that starts now (an edge that came back, the pushes after an origin
      // restart) would be sent that old GOP first, and the edge would write it a second time.
      // The new publisher starts with a keyframe of its own.
      broadcast.rtmpGopCache?.clear();
      broadcast.flvGopCache?.clear();
    }
    this.live.add(stream);
    for (const edge of this.edges.keys()) this.startPush(stream, edge);
    this.emit('publishStarted', { stream, address: session.ip });
  }

  private onDonePublish(session: NmsSession): void {
    const stream = session.streamName as StreamName;
    if (session.ip === '' || !this.live.has(stream)) return;
    this.live.delete(stream);
    this.timelines.delete(stream);
    this.stopPushes(stream);
    this.emit('publishStopped', { stream, address: session.ip });
  }

  private startPush(stream: StreamName, edge: EdgeId): void {
    const target = this.edges.get(edge);
    if (target === undefined) return;
    let perEdge = this.pushes.get(stream);
    if (perEdge === undefined) {
      perEdge = new Map();
      this.pushes.set(stream, perEdge);
    }
    const existing = perEdge.get(edge);
    if (existing !== undefined && existing.getStatus().isRunning) return;
    // node-media-server's client drops the query of the URL it is given, so the secret rides
    // in the (escaped) stream name, where nginx-rtmp splits it off as publish arguments.
    const url = `${target.url}/${encodeURIComponent(`${stream}?secret=${target.secret}`)}`;
    const push = new RtmpClientSession({
      url,
      mode: 'push',
      streamPath: `/${ORIGIN_APP}/${stream}`,
      reconnect: true,
      reconnectInterval: 1000,
    });
    guardRelayWrites(push, this.maxReaderBacklogBytes, (backlogBytes) =>
      this.emit('slowReader', { kind: 'push', stream, reader: edge, backlogBytes }),
    );
    perEdge.set(edge, push);
    void push.run();
  }

  private stopPushes(stream: StreamName): void {
    for (const push of this.pushes.get(stream)?.values() ?? []) push.close();
    this.pushes.delete(stream);
  }
}

/** The parts of node-media-server's AVPacket the origin reads. */
interface NmsPacket {
  /** 0 audio header, 1 audio frame, 2 video header, 3 video keyframe, 4 video frame, 5 metadata. */
  flags: number;
  /** Decoding timestamp, ms. */
  dts: number;
  pts: number;
  /** The parser's payload buffer: only its first `size` bytes are this packet's. */
  data: Buffer;
  size: number;
}

interface StreamTimeline {
  lastAudio: NmsPacket | undefined;
  lastVideoDts: number | undefined;
}

/**
 * Audio and video both silent for longer than this before a keyframe is a pause whose held
 * audio the edges must flush (see guardPackets). nginx-rtmp flushes its held audio when audio
 * 25 ms newer comes (the edges' hls_max_audio_delay 50 ms, halved for audio) or video 50 ms
 * newer, so at a keyframe it holds audio at most 25 ms older than the last audio frame and at
 * most 50 ms older than the last video frame. Without a resend one of the two gaps is at most
 * PAUSE_GAP_MS, so the new fragment's audio starts at most 40 + 50 = 90 ms before its video:
 * inside the 100 ms a viewer is promised. A steady program (30 fps, 21 ms AAC frames) has
 * smaller gaps; only a moment in which both streams stalled costs the repeated 21 ms of audio.
 */
const PAUSE_GAP_MS = 40;

/**
 * The stream's last audio frame stamped just before the keyframe at `keyframeDts`, when that
 * keyframe ends a pause of both audio and video; undefined otherwise (see guardPackets).
 */
function afterPause(timeline: StreamTimeline, keyframeDts: number): NmsPacket | undefined {
  const audio = timeline.lastAudio;
  const video = timeline.lastVideoDts;
  if (audio === undefined || video === undefined) return undefined;
  const audioGap = keyframeDts - audio.dts;
  const videoGap = keyframeDts - video;
  // Bounded above: across a timestamp wrap (every 24.8 days) the gap is meaningless.
  const paused = (gap: number): boolean => gap > PAUSE_GAP_MS && gap < 3_600_000;
  if (!paused(audioGap) || !paused(videoGap)) return undefined;
  const resend = copyOf(audio);
  resend.dts = keyframeDts - 1;
  resend.pts = keyframeDts - 1;
  return resend;
}

/**
 * A packet that outlives its delivery. node-media-server's parser reads every message into one
 * payload buffer that it reuses (`data` is that whole buffer; `size` says how much is this
 * packet's), so a packet kept for later must own a copy of its bytes.
 */
function copyOf(packet: NmsPacket): NmsPacket {
  const copy = Object.assign(
    Object.create(Object.getPrototypeOf(packet) as object) as NmsPacket,
    packet,
  );
  copy.data = Buffer.from(packet.data.subarray(0, packet.size));
  return copy;
}

const NMS_AUDIO_FRAME = 1;
const NMS_VIDEO_KEYFRAME = 3;
const NMS_VIDEO_FRAME = 4;
/** Audio of a publish that sent no keyframe for this long is passed on: it has no video. */
const AUDIO_ONLY_AFTER_MS = 3000;
/** Audio up to this much older than a publish's first keyframe is dropped. */
const STALE_AUDIO_WINDOW_MS = 10_000;

/** Compares secrets in constant time, so response timing does not reveal a key's prefix. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
