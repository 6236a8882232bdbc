/**
 * The few parts of node-media-server 4.4 that the origin uses, typed. node-media-server is
 * CommonJS without type declarations, and its useful pieces (the shared context, the relay client
 * session, the logger) are internal modules, so they are loaded here, in one file, through
 * `createRequire`; an upgrade that moves them breaks this file and nothing else.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';

const require = createRequire(import.meta.url);

/** What node-media-server knows about one RTMP connection (publisher, player or relay). */
export interface NmsSession {
  id: string;
  /** `address:port` of the peer; empty for sessions the server made itself (relays). */
  ip: string;
  protocol: string;
  streamApp: string;
  streamName: string;
  streamPath: string;
  streamQuery: Record<string, string | string[] | undefined>;
  isPublisher: boolean;
  createTime: number;
  endTime: number;
  inBytes: number;
  outBytes: number;
  /** The broadcast (stream path) this session publishes or plays; set once it named one. */
  broadcast?: NmsBroadcast;
  /** RTMP sessions only: the protocol parser, which hands every media packet to its callback. */
  rtmp?: { onPacketCallback: (packet: unknown) => void };
  /** RTMP sessions only: the client's connection. */
  socket?: Socket;
  /**
   * How the broadcast sends a player every message (an instance property, looked up for each
   * message, so it can be replaced). It writes to the socket whatever the reader's pace.
   */
  sendBuffer?: (buffer: Buffer) => void;
  close(): void;
}

/** The configuration object node-media-server reads from its shared context. */
export interface NmsConfig {
  bind: string;
  rtmp?: { port: number };
  http?: { port: number };
  webadmin?: { enable: boolean };
  auth?: { publish?: boolean; play?: boolean; secret?: string };
  record?: { path?: string; auto?: boolean };
  store?: { path?: string };
}

/** A broadcast (one stream path): its publisher, grace window and resume offsets. */
export interface NmsBroadcast {
  publisher: NmsSession | null;
  publishGraceMs: number;
  /**
   * What node-media-server adds to each codec's timestamps after a publisher resumed within the
   * grace window (the previous session's last timestamp of that codec), keyed by FLV tag type.
   */
  _dtsOffset: Record<number, number>;
  /** The last GOP, sent first to every player and push that starts (null before a publish). */
  rtmpGopCache: Set<Buffer> | null;
  flvGopCache: Set<Buffer> | null;
  getPublishStatus(): 'publishing' | 'reconnecting' | 'idle';
}

interface NmsRtmpServer {
  tcpServer?: Server;
  handleListenError: (name: string, port: number) => (error: Error) => void;
  run(): void;
}

export interface NodeMediaServer {
  rtmpServer: NmsRtmpServer;
  stop(): Promise<void>;
}

interface NmsContext {
  config: NmsConfig;
  broadcasts: Map<string, NmsBroadcast>;
  sessions: Map<string, NmsSession>;
  eventEmitter: EventEmitter;
}

/** The protocol client under a relay session: the part the origin guards. */
export interface NmsRtmpClient {
  socket: Socket | null;
  /** Where the session sends every outgoing RTMP message; the default throws on a closed socket. */
  onOutputCallback: (buffer: Buffer) => void;
}

/** A relay that subscribes to a local stream and publishes it to a remote RTMP server. */
export interface NmsRtmpClientSession extends NmsSession {
  rtmpClient: NmsRtmpClient;
  /** An instance property (arrow function): called again for every reconnect. */
  createClient: () => NmsRtmpClient;
  run(): Promise<void>;
  getStatus(): { isRunning: boolean; reconnectAttempts: number; outBytes: number };
}

type NodeMediaServerClass = new (config: NmsConfig) => NodeMediaServer;
type RtmpClientSessionClass = new (config: {
  url: string;
  mode: 'push' | 'pull';
  streamPath: string;
  reconnect?: boolean;
  reconnectInterval?: number;
}) => NmsRtmpClientSession;

export const NodeMediaServerCtor = require('node-media-server') as NodeMediaServerClass;
export const nmsContext = require('node-media-server/src/core/context.js') as NmsContext;
export const RtmpClientSession =
  require('node-media-server/src/session/rtmp_client_session.js') as RtmpClientSessionClass;
export const nmsLogger = require('node-media-server/src/core/logger.js') as { level: string };
