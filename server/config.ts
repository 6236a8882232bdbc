/**
 * The app server's settings: typed defaults, then `.env` in the repository root, then the
 * environment, then validation with messages that name the key and what it accepts.
 *
 * The app server owns the `MONTAGE_*` prefix and rejects any `MONTAGE_*` key it does not know,
 * so a typo fails loudly instead of silently falling back to a default. It shares `.env` with
 * the media engine, so `KMS_*` keys are accepted here: the engine validates its own
 * (`kms/src/config.ts`), and the app server reads only `KMS_URI` and the engine's address.
 *
 * To add a setting: add a field to `AppConfig`, its default to `defaultAppConfig()`, one entry
 * to `SETTINGS`, and a commented line to `.env.example`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { ENCODED_RENDITION_IDS, type RenditionId } from './hls/renditions.js';
import { LIBRARY_SCOPES, type LibraryScope } from './domain/MediaLibrary.js';

/** The repository root, found from this file's place in dist/server/. */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

export interface AppConfig {
  /** Address the HTTP server (REST, pages, socket.io) binds; loopback unless configured. */
  httpHost: string;
  /** 0 picks a free port (tests). */
  httpPort: number;
  /** Base of every link the server hands out (invite links); derived from host:port if unset. */
  publicBaseUrl: string | undefined;
  /**
   * Browser origins besides the public URL's that may call the REST API and socket.io (a second
   * host name of the same server); `scheme://host[:port]` each.
   */
  allowedOrigins: string[];
  /** When set, GET /metrics needs `Authorization: Bearer <this>`. */
  metricsToken: string | undefined;
  /**
   * State-changing REST requests (POST, PUT, PATCH, DELETE) a minute per token, or per address
   * without one, in bursts of as many; 0 turns the limit off.
   */
  restRateLimitPerMinute: number;
  /** State-changing socket.io events a minute per connection, in bursts of as many; 0: off. */
  socketRateLimitPerMinute: number;
  /** HS256 secret for tokens; generated into `<dataDir>/jwt-secret` on first start if unset. */
  jwtSecret: string | undefined;
  /** Lifetime of an invite token when the request names none, in seconds. */
  inviteTtlSeconds: number;
  /** Where persistent state lives (SQLite database, generated secret). Absolute. */
  dataDir: string;
  /** The SQLite database file. Absolute. */
  databasePath: string;
  logLevel: LogLevel;
  /** The RTMP origin (node-media-server inside the app server). */
  rtmpHost: string;
  rtmpPort: number;
  /** HTTP port of the local nginx-rtmp edge that serves HLS. */
  edgeHttpPort: number;
  /** RTMP port of the local edge, where the origin pushes (not the origin's own port). */
  edgeRtmpPort: number;
  /**
   * Shared secret the origin presents when it pushes to edges; generated into
   * `<dataDir>/edge-secret` on first start if unset (like the token secret).
   */
  edgeSecret: string | undefined;
  /** Whether `npm start` runs the local nginx edge (off when edges run elsewhere). */
  localEdge: boolean;
  /**
   * The local edge's base URL as viewers reach it (a reverse proxy in front of it); undefined
   * means its own http://127.0.0.1:PORT, which only browsers on this machine can open.
   */
  localEdgePublicUrl: string | undefined;
  /** Edges run elsewhere (MONTAGE_EDGES); the origin pushes to each and viewers are sent there. */
  edges: ConfiguredEdge[];
  /**
   * How long a player keeps an HLS content steering manifest before asking again, in seconds:
   * how soon viewers leave a drained edge and spread onto a new one (a dead edge is left at once,
   * by the player itself).
   */
  steeringTtlSeconds: number;
  /**
   * How long the signed HLS URLs the watch API hands out stay valid (server/hls/HlsSigner.ts).
   * Players fetch a fresh signature well before it runs out; a viewer whose token expired
   * cannot, so its HLS stops at most this long after.
   */
  hlsUrlTtlSeconds: number;
  /**
   * The renditions encoded from each live program besides the source (its ABR ladder); empty
   * when this machine cannot spare the CPU (then players get the source only).
   */
  renditions: RenditionId[];
  /** Largest video the media library accepts, in bytes. */
  libraryMaxBytes: number;
  /**
   * Who shares a library (server/domain/MediaLibrary.ts): `assembly`, each assembly its own
   * folder `<mediaDir>/<assembly id>/`; or `school`, every assembly the top folder.
   */
  libraryScope: LibraryScope;
  /** Where program recordings (RecorderEndpoint) are written. Absolute. */
  recordingsDir: string;
  /**
   * How long the archive keeps a recording, in days from its start; 0 keeps them for ever.
   * Retention deletes the file and its row (server/domain/Archive.ts).
   */
  recordingRetentionDays: number;
  /**
   * The panel warns when the recordings folder or the local edge's HLS folder has less free space
   * than this, in MiB (server/domain/DiskSpace.ts); 0 never warns.
   */
  diskWarnFreeMb: number;
  /** A recording is not started while the recordings folder has less free space, in MiB. */
  diskMinFreeMb: number;
  /** How often free space is checked, in ms. */
  diskCheckIntervalMs: number;
  /** How long a camera whose picture or connection stopped keeps its tile, in ms. */
  cameraGraceMs: number;
  /** Folder of videos that presenters may inject (PlayerEndpoint file URIs). Absolute. */
  mediaDir: string;
  /** URL prefixes (http or https) of videos that presenters may inject. Empty: none. */
  videoUrlAllowList: string[];
  /** An external Kurento Media Server; undefined means the embedded engine. */
  kmsUri: string | undefined;
  /** The media server the app server drives: `kmsUri` or the embedded engine's address. */
  mediaServerUri: string;
}

/** One edge of MONTAGE_EDGES: an nginx-rtmp edge this app server does not run itself. */
export interface ConfiguredEdge {
  /** Names the edge in logs and in the registry; [A-Za-z0-9._-], `local` is the local edge's. */
  id: string;
  /** http(s) base URL viewers' browsers fetch `/hls/STREAM/index.m3u8` from; no trailing slash. */
  publicUrl: string;
  /** rtmp://HOST:PORT/APP the origin pushes every live stream to (port always written out). */
  ingestUrl: string;
  /**
   * http(s) base URL the app server probes (`/stat`, `/nginx_status`); the public URL unless
   * given, because a reverse proxy in front of an edge should not expose those.
   */
  statusUrl: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Defaults, with relative paths resolved against `baseDir` (the repository root). */
export function defaultAppConfig(baseDir: string = REPO_ROOT): AppConfig {
  const dataDir = join(baseDir, 'var');
  return {
    httpHost: '127.0.0.1',
    httpPort: 8080,
    publicBaseUrl: undefined,
    allowedOrigins: [],
    metricsToken: undefined,
    restRateLimitPerMinute: 600,
    socketRateLimitPerMinute: 1200,
    jwtSecret: undefined,
    inviteTtlSeconds: 7 * 24 * 3600,
    dataDir,
    databasePath: join(dataDir, 'montage.sqlite'),
    logLevel: 'info',
    rtmpHost: '127.0.0.1',
    rtmpPort: 1935,
    edgeHttpPort: 8090,
    edgeRtmpPort: 1936,
    edgeSecret: undefined,
    localEdge: true,
    localEdgePublicUrl: undefined,
    edges: [],
    steeringTtlSeconds: 10,
    hlsUrlTtlSeconds: 600,
    renditions: ['360p'],
    libraryMaxBytes: 2 * 1024 ** 3,
    libraryScope: 'assembly',
    recordingsDir: join(dataDir, 'recordings'),
    recordingRetentionDays: 30,
    diskWarnFreeMb: 1024,
    diskMinFreeMb: 64,
    diskCheckIntervalMs: 5000,
    cameraGraceMs: 3000,
    mediaDir: join(dataDir, 'media'),
    videoUrlAllowList: [],
    kmsUri: undefined,
    mediaServerUri: 'ws://127.0.0.1:8888/kurento',
  };
}

/** Everything a setting's parser needs besides its own text. */
interface ParseContext {
  baseDir: string;
}

interface Setting {
  key: string;
  apply(config: AppConfig, value: string, context: ParseContext): void;
}

function fail(key: string, value: string, expected: string): never {
  throw new ConfigError(`${key}=${value} is invalid: expected ${expected}`);
}

function integer(key: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    fail(key, value, `an integer from ${min} to ${max}`);
  }
  return number;
}

function host(key: string, value: string): string {
  if (!/^[A-Za-z0-9.:_-]+$/.test(value)) fail(key, value, 'a host name or an IP address');
  return value;
}

function httpUrl(key: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(key, value, 'an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(key, value, 'an absolute http:// or https:// URL');
  }
  return url;
}

function path(value: string, context: ParseContext): string {
  return isAbsolute(value) ? value : resolve(context.baseDir, value);
}

/**
 * `value` as a URL with no query, fragment or credentials (edge URLs end up in every viewer's
 * playlist URL and in logs); undefined when it is not one.
 */
function parsePlainUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const plain = url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  return plain ? url : undefined;
}

/**
 * An http(s) base URL that paths are appended to (`${base}/hls/...`): nothing after the path,
 * no credentials (they would end up in every viewer's playlist URL); returned without a
 * trailing slash. Undefined when `value` is not one, so each caller words its own error.
 */
export function parseBaseUrl(value: string): string | undefined {
  const url = parsePlainUrl(value);
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    return undefined;
  return url.href.replace(/\/+$/, '');
}

export const BASE_URL =
  'an http:// or https:// base URL without ?query, #fragment or user:password@';

/** The id of the edge `npm start` runs itself (server/delivery.ts); not for MONTAGE_EDGES. */
export const LOCAL_EDGE_ID = 'local';

export const EDGE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const EDGES_SYNTAX = 'ID=PUBLIC_URL|INGEST_URL[|STATUS_URL], entries separated by commas';
export const INGEST_URL = 'rtmp://HOST:PORT/APP (e.g. rtmp://10.0.0.5:1936/live)';
const RTMP_DEFAULT_PORT = 1935;

function invalidEdge(entry: string, expected: string): never {
  throw new ConfigError(`MONTAGE_EDGES entry '${entry}' is invalid: expected ${expected}`);
}

/**
 * Parses MONTAGE_EDGES: `ID=PUBLIC_URL|INGEST_URL[|STATUS_URL]` entries separated by commas, e.g.
 * `edge1=https://edge1.example.org|rtmp://10.0.0.5:1936/live|http://10.0.0.5:8090`. Not JSON:
 * the value lives in .env files and in docker-compose interpolation, where quotes get in the way.
 * Every error quotes the entry and says which part is wrong.
 */
function parseEdges(value: string): ConfiguredEdge[] {
  const edges: ConfiguredEdge[] = [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    if (equals < 0) invalidEdge(entry, EDGES_SYNTAX);
    const id = entry.slice(0, equals).trim();
    if (!EDGE_ID.test(id)) {
      invalidEdge(entry, `an id of 1 to 64 characters of A-Z a-z 0-9 . _ - before '='`);
    }
    if (id === LOCAL_EDGE_ID) {
      invalidEdge(
        entry,
        `an id other than '${LOCAL_EDGE_ID}', the local edge's (MONTAGE_LOCAL_EDGE)`,
      );
    }
    const parts = entry
      .slice(equals + 1)
      .split('|')
      .map((part) => part.trim());
    const [publicText, ingestText, statusText, ...extra] = parts;
    if (publicText === undefined || ingestText === undefined || extra.length > 0) {
      invalidEdge(entry, `two or three URLs separated by '|' after '${id}=' (${EDGES_SYNTAX})`);
    }
    const publicUrl = parseBaseUrl(publicText);
    if (publicUrl === undefined) {
      invalidEdge(entry, `the public URL (first part) to be ${BASE_URL}, not '${publicText}'`);
    }
    const ingestUrl = parseIngestUrl(ingestText);
    if (ingestUrl === undefined) {
      invalidEdge(entry, `the ingest URL (second part) to be ${INGEST_URL}, not '${ingestText}'`);
    }
    let statusUrl = publicUrl;
    if (statusText !== undefined) {
      const parsed = parseBaseUrl(statusText);
      if (parsed === undefined) {
        invalidEdge(entry, `the status URL (third part) to be ${BASE_URL}, not '${statusText}'`);
      }
      statusUrl = parsed;
    }
    const edge: ConfiguredEdge = { id, publicUrl, ingestUrl, statusUrl };
    // Two entries for one edge would make the origin push each stream to it twice (nginx-rtmp
    // refuses the second publish, which then retries forever) and the registry balance a URL
    // with itself; most likely a copy-paste slip.
    for (const [field, what] of [
      ['id', 'id'],
      ['publicUrl', 'public URL'],
      ['ingestUrl', 'ingest URL'],
    ] as const) {
      const twin = edges.find((other) => other[field] === edge[field]);
      if (twin !== undefined) {
        throw new ConfigError(
          `MONTAGE_EDGES is invalid: edges '${twin.id}' and '${id}' have the same ${what} ` +
            `${edge[field]}; list each edge once`,
        );
      }
    }
    edges.push(edge);
  }
  return edges;
}

/**
 * `rtmp://HOST[:PORT]/APP`, returned with the port written out so that duplicates compare
 * equal; undefined when `value` is not one. The origin appends `/STREAM`, and nginx-rtmp takes
 * the first path segment as the application, so exactly one segment is allowed.
 */
export function parseIngestUrl(value: string): string | undefined {
  const url = parsePlainUrl(value);
  if (url === undefined || url.protocol !== 'rtmp:' || url.hostname === '') return undefined;
  if (!/^\/[A-Za-z0-9_-]+\/?$/.test(url.pathname)) return undefined;
  const port = url.port === '' ? RTMP_DEFAULT_PORT : Number(url.port);
  // rtmp: is not a scheme URL parsing knows, so it keeps the host's case: lower it, as for http.
  return `rtmp://${url.hostname.toLowerCase()}:${port}${url.pathname.replace(/\/+$/, '')}`;
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Edge settings that contradict each other. Only what would otherwise fail silently at run time
 * is refused: a public URL for a local edge that does not run, an edge whose ingest is the
 * origin itself, and the local edge listed a second time.
 */
function checkEdges(config: AppConfig): void {
  if (!config.localEdge && config.localEdgePublicUrl !== undefined) {
    throw new ConfigError(
      'MONTAGE_LOCAL_EDGE_PUBLIC_URL is set but MONTAGE_LOCAL_EDGE=false: there is no local ' +
        'edge for it to name; list edges run elsewhere in MONTAGE_EDGES',
    );
  }
  for (const edge of config.edges) {
    const url = new URL(edge.ingestUrl);
    if (!isLoopback(url.hostname)) continue;
    const port = Number(url.port);
    if (port === config.rtmpPort) {
      throw new ConfigError(
        `MONTAGE_EDGES edge '${edge.id}' is invalid: its ingest URL ${edge.ingestUrl} is the ` +
          `origin itself (MONTAGE_RTMP_PORT=${config.rtmpPort}); expected an edge's RTMP port`,
      );
    }
    if (config.localEdge && port === config.edgeRtmpPort) {
      throw new ConfigError(
        `MONTAGE_EDGES edge '${edge.id}' is invalid: its ingest URL ${edge.ingestUrl} is the ` +
          `local edge (MONTAGE_EDGE_RTMP_PORT=${config.edgeRtmpPort}), which ` +
          'MONTAGE_LOCAL_EDGE=true registers already',
      );
    }
  }
}

const MONTAGE_SETTINGS: Setting[] = [
  { key: 'MONTAGE_HTTP_HOST', apply: (c, v) => (c.httpHost = host('MONTAGE_HTTP_HOST', v)) },
  {
    key: 'MONTAGE_HTTP_PORT',
    apply: (c, v) => (c.httpPort = integer('MONTAGE_HTTP_PORT', v, 0, 65535)),
  },
  {
    key: 'MONTAGE_PUBLIC_URL',
    // Stored without a trailing slash so that links are built as `${base}/panel?...`.
    apply: (c, v) => (c.publicBaseUrl = httpUrl('MONTAGE_PUBLIC_URL', v).href.replace(/\/+$/, '')),
  },
  {
    key: 'MONTAGE_ALLOWED_ORIGINS',
    apply: (c, v) => {
      const expected = 'a comma-separated list of origins such as https://school.example:8443';
      c.allowedOrigins = v
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0)
        .map((entry) => {
          const url = parsePlainUrl(entry);
          const origin = url?.origin;
          // An origin is scheme, host and port only: a path would never match a browser's.
          if (url === undefined || !/^https?:$/.test(url.protocol) || url.pathname !== '/') {
            fail('MONTAGE_ALLOWED_ORIGINS', v, expected);
          }
          return origin as string;
        });
    },
  },
  {
    key: 'MONTAGE_METRICS_TOKEN',
    apply: (c, v) => {
      if (!/^[\x21-\x7e]{16,}$/.test(v)) {
        fail('MONTAGE_METRICS_TOKEN', '(hidden)', 'at least 16 printable characters, no spaces');
      }
      c.metricsToken = v;
    },
  },
  {
    key: 'MONTAGE_RATE_LIMIT_REST_PER_MINUTE',
    apply: (c, v) =>
      (c.restRateLimitPerMinute = integer('MONTAGE_RATE_LIMIT_REST_PER_MINUTE', v, 0, 1_000_000)),
  },
  {
    key: 'MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE',
    apply: (c, v) =>
      (c.socketRateLimitPerMinute = integer(
        'MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE',
        v,
        0,
        1_000_000,
      )),
  },
  {
    key: 'MONTAGE_JWT_SECRET',
    apply: (c, v) => {
      if (v.length < 32) fail('MONTAGE_JWT_SECRET', '(hidden)', 'at least 32 characters');
      c.jwtSecret = v;
    },
  },
  {
    key: 'MONTAGE_INVITE_TTL_SECONDS',
    apply: (c, v) =>
      (c.inviteTtlSeconds = integer('MONTAGE_INVITE_TTL_SECONDS', v, 60, 366 * 24 * 3600)),
  },
  // MONTAGE_DATA_DIR is applied first (see loadAppConfig) because other paths default under it.
  { key: 'MONTAGE_DATA_DIR', apply: () => undefined },
  { key: 'MONTAGE_DB_PATH', apply: (c, v, ctx) => (c.databasePath = path(v, ctx)) },
  {
    key: 'MONTAGE_LOG_LEVEL',
    apply: (c, v) => {
      if (!(LOG_LEVELS as readonly string[]).includes(v)) {
        fail('MONTAGE_LOG_LEVEL', v, `one of ${LOG_LEVELS.join(', ')}`);
      }
      c.logLevel = v as LogLevel;
    },
  },
  { key: 'MONTAGE_RTMP_HOST', apply: (c, v) => (c.rtmpHost = host('MONTAGE_RTMP_HOST', v)) },
  {
    key: 'MONTAGE_RTMP_PORT',
    apply: (c, v) => (c.rtmpPort = integer('MONTAGE_RTMP_PORT', v, 1, 65535)),
  },
  {
    key: 'MONTAGE_EDGE_HTTP_PORT',
    apply: (c, v) => (c.edgeHttpPort = integer('MONTAGE_EDGE_HTTP_PORT', v, 1, 65535)),
  },
  {
    key: 'MONTAGE_EDGE_RTMP_PORT',
    apply: (c, v) => (c.edgeRtmpPort = integer('MONTAGE_EDGE_RTMP_PORT', v, 1, 65535)),
  },
  {
    key: 'MONTAGE_EDGE_SECRET',
    apply: (c, v) => {
      // It travels in an RTMP URL, so only characters that need no escaping are allowed.
      if (!/^[A-Za-z0-9_-]{16,}$/.test(v)) {
        fail('MONTAGE_EDGE_SECRET', '(hidden)', 'at least 16 characters of A-Z a-z 0-9 _ -');
      }
      c.edgeSecret = v;
    },
  },
  {
    key: 'MONTAGE_LOCAL_EDGE',
    apply: (c, v) => {
      if (v !== 'true' && v !== 'false') fail('MONTAGE_LOCAL_EDGE', v, 'true or false');
      c.localEdge = v === 'true';
    },
  },
  {
    key: 'MONTAGE_LOCAL_EDGE_PUBLIC_URL',
    apply: (c, v) => {
      c.localEdgePublicUrl = parseBaseUrl(v);
      if (c.localEdgePublicUrl === undefined) fail('MONTAGE_LOCAL_EDGE_PUBLIC_URL', v, BASE_URL);
    },
  },
  { key: 'MONTAGE_EDGES', apply: (c, v) => (c.edges = parseEdges(v)) },
  {
    key: 'MONTAGE_STEERING_TTL_SECONDS',
    apply: (c, v) => (c.steeringTtlSeconds = integer('MONTAGE_STEERING_TTL_SECONDS', v, 1, 300)),
  },
  {
    key: 'MONTAGE_HLS_URL_TTL_SECONDS',
    // At least 20 s: the player refreshes at a third of it, and needs a margin for a slow answer.
    apply: (c, v) => (c.hlsUrlTtlSeconds = integer('MONTAGE_HLS_URL_TTL_SECONDS', v, 20, 86_400)),
  },
  {
    key: 'MONTAGE_RENDITIONS',
    apply: (c, v) => {
      const ids = v === 'none' ? [] : v.split(',').map((id) => id.trim());
      const expected = `'none' or a comma-separated list of ${ENCODED_RENDITION_IDS.join(', ')}`;
      for (const id of ids) {
        if (!(ENCODED_RENDITION_IDS as readonly string[]).includes(id)) {
          fail('MONTAGE_RENDITIONS', v, expected);
        }
      }
      if (new Set(ids).size !== ids.length) fail('MONTAGE_RENDITIONS', v, expected);
      c.renditions = ids as RenditionId[];
    },
  },
  {
    key: 'MONTAGE_LIBRARY_MAX_MB',
    apply: (c, v) =>
      (c.libraryMaxBytes = integer('MONTAGE_LIBRARY_MAX_MB', v, 1, 1024 * 1024) * 1024 * 1024),
  },
  {
    key: 'MONTAGE_LIBRARY_SCOPE',
    apply: (c, v) => {
      if (!(LIBRARY_SCOPES as readonly string[]).includes(v)) {
        fail('MONTAGE_LIBRARY_SCOPE', v, `one of ${LIBRARY_SCOPES.join(', ')}`);
      }
      c.libraryScope = v as LibraryScope;
    },
  },
  { key: 'MONTAGE_RECORDINGS_DIR', apply: (c, v, ctx) => (c.recordingsDir = path(v, ctx)) },
  {
    key: 'MONTAGE_RECORDING_RETENTION_DAYS',
    apply: (c, v) =>
      (c.recordingRetentionDays = integer('MONTAGE_RECORDING_RETENTION_DAYS', v, 0, 3650)),
  },
  {
    key: 'MONTAGE_DISK_WARN_FREE_MB',
    apply: (c, v) => (c.diskWarnFreeMb = integer('MONTAGE_DISK_WARN_FREE_MB', v, 0, 1024 * 1024)),
  },
  {
    key: 'MONTAGE_DISK_MIN_FREE_MB',
    apply: (c, v) => (c.diskMinFreeMb = integer('MONTAGE_DISK_MIN_FREE_MB', v, 0, 1024 * 1024)),
  },
  {
    key: 'MONTAGE_DISK_CHECK_INTERVAL_MS',
    apply: (c, v) =>
      (c.diskCheckIntervalMs = integer('MONTAGE_DISK_CHECK_INTERVAL_MS', v, 200, 600_000)),
  },
  {
    key: 'MONTAGE_CAMERA_GRACE_MS',
    apply: (c, v) => (c.cameraGraceMs = integer('MONTAGE_CAMERA_GRACE_MS', v, 0, 60_000)),
  },
  { key: 'MONTAGE_MEDIA_DIR', apply: (c, v, ctx) => (c.mediaDir = path(v, ctx)) },
  {
    key: 'MONTAGE_VIDEO_URL_ALLOWLIST',
    apply: (c, v) => {
      c.videoUrlAllowList = v
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0)
        .map((entry) => httpUrl('MONTAGE_VIDEO_URL_ALLOWLIST', entry).href);
    },
  },
];

const KNOWN_MONTAGE_KEYS = new Set(MONTAGE_SETTINGS.map((setting) => setting.key));

/** Our prefix: every key starting with it must be one of `MONTAGE_SETTINGS`. */
const PREFIX = 'MONTAGE_';

export interface LoadOptions {
  /** The environment; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** The .env file, or null for none; `<baseDir>/.env` by default. */
  envFile?: string | null;
  /** Relative paths are resolved against this folder; the repository root by default. */
  baseDir?: string;
}

/**
 * Builds the configuration: typed defaults, then `.env`, then the environment, then validation.
 * Throws a `ConfigError` naming the first bad key.
 */
export function loadAppConfig(options: LoadOptions = {}): AppConfig {
  const baseDir = options.baseDir ?? REPO_ROOT;
  const envFile = options.envFile === undefined ? join(baseDir, '.env') : options.envFile;
  const env = options.env ?? process.env;

  const merged: Record<string, string> = {};
  if (envFile !== null && existsSync(envFile)) {
    Object.assign(merged, dotenv.parse(readFileSync(envFile)));
  }
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;

  const unknown = Object.keys(merged).filter(
    (key) => key.startsWith(PREFIX) && !KNOWN_MONTAGE_KEYS.has(key),
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown setting(s) ${unknown.join(', ')}; the app server understands ` +
        `${[...KNOWN_MONTAGE_KEYS].join(', ')} (see .env.example)`,
    );
  }

  const get = (key: string): string | undefined => {
    const value = merged[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const context: ParseContext = { baseDir };

  const dataDirText = get('MONTAGE_DATA_DIR');
  const config = defaultAppConfig(baseDir);
  if (dataDirText !== undefined) {
    const dataDir = path(dataDirText, context);
    config.dataDir = dataDir;
    config.databasePath = join(dataDir, 'montage.sqlite');
    config.mediaDir = join(dataDir, 'media');
    config.recordingsDir = join(dataDir, 'recordings');
  }
  for (const setting of MONTAGE_SETTINGS) {
    const value = get(setting.key);
    if (value !== undefined) setting.apply(config, value, context);
  }
  checkEdges(config);
  // The warning comes before the refusal, or a moderator is refused without having been warned.
  if (config.diskWarnFreeMb !== 0 && config.diskWarnFreeMb < config.diskMinFreeMb) {
    throw new ConfigError(
      `MONTAGE_DISK_WARN_FREE_MB=${config.diskWarnFreeMb} is below MONTAGE_DISK_MIN_FREE_MB=` +
        `${config.diskMinFreeMb}: the panel would refuse recordings before it warned; expected ` +
        'a warning threshold at least the minimum (or 0, never warn)',
    );
  }

  // The media server: an external Kurento (KMS_URI) or the embedded engine's own address.
  const kmsUri = get('KMS_URI');
  if (kmsUri !== undefined) {
    if (!/^wss?:\/\/[^\s/]+/.test(kmsUri)) {
      fail('KMS_URI', kmsUri, 'a ws:// or wss:// URL such as ws://10.0.0.5:8888/kurento');
    }
    config.kmsUri = kmsUri;
    config.mediaServerUri = kmsUri;
  } else {
    const engineHost = get('KMS_HOST') ?? '127.0.0.1';
    const enginePort = integer('KMS_PORT', get('KMS_PORT') ?? '8888', 1, 65535);
    const enginePath = (get('KMS_PATH') ?? 'kurento').replace(/^\/+/, '');
    config.mediaServerUri = `ws://${engineHost}:${enginePort}/${enginePath}`;
    // The engine's shared secret (kms/src/rpc/AccessPolicy.ts) goes where kurento-client sends it.
    const engineToken = get('KMS_AUTH_TOKEN');
    if (engineToken !== undefined && engineToken !== '') {
      config.mediaServerUri += `?token=${encodeURIComponent(engineToken)}`;
    }
  }
  return config;
}

/** The local edge's folder (nginx prefix, logs, HLS files); `npm start` and the tests agree. */
export function localEdgeDir(config: AppConfig): string {
  return join(config.dataDir, 'edge');
}

/** A media server URI as logs and the console show it: a `token` in its query is hidden. */
export function redactedUri(uri: string): string {
  return uri.replace(/([?&]token=)[^&#]*/g, '$1***');
}
