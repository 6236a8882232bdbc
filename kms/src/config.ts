import { existsSync, readFileSync } from 'node:fs';
import { isIP, isIPv6 } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';

/** The engine's settings after defaults, .env, environment and validation. */
export interface EngineConfig {
  host: string;
  port: number;
  /** WebSocket path without leading slash (KMS default "kurento"). */
  path: string;
  /** Local addresses the worker gathers host candidates on. */
  iceAddresses: string[];
  /** "host:port" of a STUN server, passed to every worker. */
  stun: string | undefined;
  /** "user:pass@host:port" of a TURN server, passed to every worker. */
  turn: string | undefined;
  maxMessageBytes: number;
  /** Session garbage collector period (KMS garbageCollectorPeriod, 240 s). */
  sessionGcSeconds: number;
  workerPath: string;
  /**
   * How long webrtcbin's jitterbuffer holds received RTP to reorder it and wait for
   * retransmissions; every received frame is delayed by it (see .env.example).
   */
  jitterBufferMs: number;
  workerStartTimeoutMs: number;
  /**
   * Browser origins and host names that may open the WebSocket besides loopback and IP
   * literals (KMS_ALLOWED_ORIGINS, comma-separated; see kms/src/rpc/AccessPolicy.ts).
   */
  allowedOrigins: string[];
  /** A shared secret clients must present (KMS_AUTH_TOKEN, at least 16 characters). */
  authToken: string | undefined;
  /** Folders players read and recorders write in (KMS_FILE_ROOTS); empty: anywhere. */
  fileRoots: string[];
  /** Hosts players may fetch although loopback or link-local (KMS_PLAYER_ALLOWED_HOSTS). */
  playerAllowedHosts: string[];
  /** Hosts recorders may upload to although loopback or link-local (KMS_RECORDER_ALLOWED_HOSTS). */
  recorderAllowedHosts: string[];
  /** Most MediaPipelines (worker processes) at once (KMS_MAX_PIPELINES); 0: no limit. */
  maxPipelines: number;
  /** Recorders may replace an existing regular file (KMS_RECORDER_OVERWRITE), as Kurento. */
  recorderOverwrite: boolean;
  /** The address an RtpEndpoint created with useIpv6 binds and announces (KMS_RTP_IPV6_ADDRESS). */
  rtpIpv6Address: string;
  /**
   * The HTTP server of HttpPostEndpoints (Kurento's HttpEndpoint serverAddress, port and
   * announcedAddress): where it listens, started with the first HttpPostEndpoint, and the host
   * getUrl names (default: the listening address). Port 0: any free port.
   */
  httpEndpointAddress: string;
  httpEndpointPort: number;
  httpEndpointAnnouncedAddress: string | undefined;
  /** Most bytes one HttpPostEndpoint accepts (KMS_HTTP_ENDPOINT_MAX_BYTES). */
  httpEndpointMaxBytes: number;
  /** Running workers kept ready for the next pipelines (KMS_WARM_WORKERS); 0: none. */
  warmWorkers: number;
  /** Workers starting at once, at most (KMS_WORKER_START_CONCURRENCY). */
  workerStartConcurrency: number;
  /** How long a MediaPipeline create waits for a worker before 40009 (KMS_PIPELINE_QUEUE_MS). */
  pipelineQueueMs: number;
  /** Refuse new pipelines while the machine's CPU use is over this percent (KMS_MAX_CPU_PERCENT); 0: off. */
  maxCpuPercent: number;
  /**
   * How long a request to a pipeline's worker may go unanswered before the worker is taken for
   * hung and killed (KMS_WORKER_REQUEST_TIMEOUT_MS); 0: wait for ever.
   */
  workerRequestTimeoutMs: number;
}

/** Environment keys the engine reads. */
const KNOWN_KEYS = new Set([
  'KMS_HOST',
  'KMS_PORT',
  'KMS_PATH',
  'KMS_ICE_ADDRESSES',
  'KMS_STUN',
  'KMS_TURN',
  'KMS_MAX_MESSAGE_BYTES',
  'KMS_SESSION_GC_SECONDS',
  'KMS_WORKER_PATH',
  'KMS_JITTER_BUFFER_MS',
  'KMS_ALLOWED_ORIGINS',
  'KMS_AUTH_TOKEN',
  'KMS_FILE_ROOTS',
  'KMS_PLAYER_ALLOWED_HOSTS',
  'KMS_RECORDER_ALLOWED_HOSTS',
  'KMS_MAX_PIPELINES',
  'KMS_RECORDER_OVERWRITE',
  'KMS_RTP_IPV6_ADDRESS',
  'KMS_HTTP_ENDPOINT_ADDRESS',
  'KMS_HTTP_ENDPOINT_PORT',
  'KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS',
  'KMS_HTTP_ENDPOINT_MAX_BYTES',
  'KMS_WARM_WORKERS',
  'KMS_WORKER_START_CONCURRENCY',
  'KMS_PIPELINE_QUEUE_MS',
  'KMS_MAX_CPU_PERCENT',
  'KMS_WORKER_REQUEST_TIMEOUT_MS',
]);

/** KMS_* keys that belong to the app server (which media server to use) and share the .env. */
const APP_SERVER_KEYS = new Set(['KMS_URI', 'KMS_URIS']);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function defaultIceAddresses(): string[] {
  const addresses: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === 'IPv4' && !info.internal) addresses.push(info.address);
    }
  }
  addresses.push('127.0.0.1');
  return addresses;
}

export function defaultConfig(): EngineConfig {
  return {
    host: '127.0.0.1',
    port: 8888,
    path: 'kurento',
    iceAddresses: defaultIceAddresses(),
    stun: undefined,
    turn: undefined,
    maxMessageBytes: 4 * 1024 * 1024,
    sessionGcSeconds: 240,
    workerPath: fileURLToPath(new URL('../../../kms/worker/build/montage-worker', import.meta.url)),
    workerStartTimeoutMs: 10000,
    jitterBufferMs: 20,
    allowedOrigins: [],
    authToken: undefined,
    fileRoots: [],
    playerAllowedHosts: [],
    recorderAllowedHosts: [],
    maxPipelines: 100,
    recorderOverwrite: false,
    // Loopback, like the rest of the engine's defaults; Kurento takes the host's first
    // non-loopback IPv6 address, which KMS_RTP_IPV6_ADDRESS can name.
    rtpIpv6Address: '::1',
    httpEndpointAddress: '127.0.0.1',
    httpEndpointPort: 9091,
    httpEndpointAnnouncedAddress: undefined,
    httpEndpointMaxBytes: 4 * 1024 ** 3,
    warmWorkers: 1,
    workerStartConcurrency: Math.max(2, os.availableParallelism()),
    pipelineQueueMs: 750,
    maxCpuPercent: 0,
    workerRequestTimeoutMs: 60_000,
  };
}

function integer(key: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new ConfigError(
      `${key}=${text} is invalid: expected an integer between ${min} and ${max}`,
    );
  }
  return value;
}

/** One KMS_ALLOWED_ORIGINS entry: an http(s) origin or a bare host name. */
function allowedOrigin(entry: string): string {
  const value = entry.trim();
  if (/^https?:\/\/[^/?#\s]+$/.test(value)) {
    try {
      return new URL(value).origin;
    } catch {
      // Reported below.
    }
  } else if (/^[a-z0-9.-]+$/i.test(value)) {
    return value.toLowerCase();
  }
  throw new ConfigError(
    `KMS_ALLOWED_ORIGINS entry '${value}' is invalid: expected an origin such as https://panel.example or a host name`,
  );
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Builds the configuration: typed defaults, then the `.env` file (if any),
 * then the environment, then validation. Unknown KMS_* keys are rejected so
 * a typo does not silently fall back to a default.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, envFile = '.env'): EngineConfig {
  const fromFile = existsSync(envFile) ? dotenv.parse(readFileSync(envFile)) : {};
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries(fromFile)) merged[key] = value;
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;

  const unknown = Object.keys(merged).filter(
    (k) => k.startsWith('KMS_') && !KNOWN_KEYS.has(k) && !APP_SERVER_KEYS.has(k),
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown setting(s) ${unknown.join(', ')}; the engine understands ${[...KNOWN_KEYS].join(', ')}`,
    );
  }

  const config = defaultConfig();
  const get = (key: string): string | undefined => {
    const value = merged[key];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const host = get('KMS_HOST');
  if (host) config.host = host;
  const port = get('KMS_PORT');
  if (port) config.port = integer('KMS_PORT', port, 0, 65535);
  const path = get('KMS_PATH');
  if (path !== undefined) {
    config.path = path.replace(/^\/+/, '');
    if (/[?#\s]/.test(config.path))
      throw new ConfigError(`KMS_PATH=${path} is invalid: no '?', '#' or spaces`);
  }
  const ice = get('KMS_ICE_ADDRESSES');
  if (ice) {
    config.iceAddresses = ice
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a.length > 0);
    for (const address of config.iceAddresses) {
      const match = IPV4.exec(address);
      const ipv4 = match !== null && match.slice(1).every((part) => Number(part) <= 255);
      // IPv6 host candidates work too (Kurento gathers on every interface); a link-local one
      // would need a zone, which a candidate line cannot carry.
      if (!ipv4 && !(isIPv6(address) && !/^fe80:/i.test(address))) {
        throw new ConfigError(
          `KMS_ICE_ADDRESSES contains '${address}', which is not an IPv4 or (non-link-local) IPv6 address`,
        );
      }
    }
  }
  const stun = get('KMS_STUN');
  if (stun) {
    if (!/^[^\s:]+:\d+$/.test(stun))
      throw new ConfigError(`KMS_STUN=${stun} is invalid: expected host:port`);
    config.stun = stun;
  }
  const turn = get('KMS_TURN');
  if (turn) {
    if (!/^[^\s:@]+:[^\s@]*@[^\s:]+:\d+$/.test(turn)) {
      throw new ConfigError(`KMS_TURN=${turn} is invalid: expected user:password@host:port`);
    }
    config.turn = turn;
  }
  const maxBytes = get('KMS_MAX_MESSAGE_BYTES');
  if (maxBytes)
    config.maxMessageBytes = integer('KMS_MAX_MESSAGE_BYTES', maxBytes, 1024, 1024 * 1024 * 1024);
  const gc = get('KMS_SESSION_GC_SECONDS');
  if (gc) config.sessionGcSeconds = integer('KMS_SESSION_GC_SECONDS', gc, 1, 86400);
  const jitter = get('KMS_JITTER_BUFFER_MS');
  if (jitter) config.jitterBufferMs = integer('KMS_JITTER_BUFFER_MS', jitter, 0, 2000);
  const workerPath = get('KMS_WORKER_PATH');
  if (workerPath) config.workerPath = workerPath;
  const origins = get('KMS_ALLOWED_ORIGINS');
  if (origins) config.allowedOrigins = origins.split(',').map((entry) => allowedOrigin(entry));
  const token = get('KMS_AUTH_TOKEN');
  if (token) {
    if (token.length < 16 || /\s/.test(token)) {
      throw new ConfigError('KMS_AUTH_TOKEN must have at least 16 characters and no spaces');
    }
    config.authToken = token;
  }
  const roots = get('KMS_FILE_ROOTS');
  if (roots) {
    config.fileRoots = roots.split(',').map((root) => root.trim());
    const relative = config.fileRoots.find((root) => !root.startsWith('/'));
    if (relative !== undefined) {
      throw new ConfigError(
        `KMS_FILE_ROOTS entry '${relative}' is invalid: expected an absolute folder`,
      );
    }
  }
  const maxPipelines = get('KMS_MAX_PIPELINES');
  if (maxPipelines) config.maxPipelines = integer('KMS_MAX_PIPELINES', maxPipelines, 0, 100_000);
  const overwrite = get('KMS_RECORDER_OVERWRITE');
  if (overwrite) {
    if (!['true', 'false', '1', '0'].includes(overwrite)) {
      throw new ConfigError(
        `KMS_RECORDER_OVERWRITE=${overwrite} is invalid: expected true or false`,
      );
    }
    config.recorderOverwrite = overwrite === 'true' || overwrite === '1';
  }
  const warm = get('KMS_WARM_WORKERS');
  if (warm) config.warmWorkers = integer('KMS_WARM_WORKERS', warm, 0, 64);
  const concurrency = get('KMS_WORKER_START_CONCURRENCY');
  if (concurrency)
    config.workerStartConcurrency = integer('KMS_WORKER_START_CONCURRENCY', concurrency, 1, 64);
  const queue = get('KMS_PIPELINE_QUEUE_MS');
  if (queue) config.pipelineQueueMs = integer('KMS_PIPELINE_QUEUE_MS', queue, 0, 60_000);
  const cpu = get('KMS_MAX_CPU_PERCENT');
  if (cpu) config.maxCpuPercent = integer('KMS_MAX_CPU_PERCENT', cpu, 0, 100);
  const requestTimeout = get('KMS_WORKER_REQUEST_TIMEOUT_MS');
  if (requestTimeout) {
    config.workerRequestTimeoutMs = integer(
      'KMS_WORKER_REQUEST_TIMEOUT_MS',
      requestTimeout,
      0,
      3_600_000,
    );
  }
  const hosts = get('KMS_PLAYER_ALLOWED_HOSTS');
  if (hosts) config.playerAllowedHosts = hosts.split(',').map((host) => host.trim().toLowerCase());
  const ipv6 = get('KMS_RTP_IPV6_ADDRESS');
  if (ipv6) {
    // A link-local address would need a zone (%eth0), which an SDP c= line cannot carry.
    if (!isIPv6(ipv6) || /^fe80:/i.test(ipv6)) {
      throw new ConfigError(
        `KMS_RTP_IPV6_ADDRESS=${ipv6} is invalid: expected an IPv6 address that is not link-local`,
      );
    }
    config.rtpIpv6Address = ipv6;
  }
  const httpAddress = get('KMS_HTTP_ENDPOINT_ADDRESS');
  if (httpAddress) {
    if (isIP(httpAddress) === 0) {
      throw new ConfigError(
        `KMS_HTTP_ENDPOINT_ADDRESS=${httpAddress} is invalid: expected an IP address to listen on`,
      );
    }
    config.httpEndpointAddress = httpAddress;
  }
  const httpPort = get('KMS_HTTP_ENDPOINT_PORT');
  if (httpPort) config.httpEndpointPort = integer('KMS_HTTP_ENDPOINT_PORT', httpPort, 0, 65535);
  const announced = get('KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS');
  if (announced) {
    if (!/^[A-Za-z0-9.:-]+$/.test(announced)) {
      throw new ConfigError(
        `KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS=${announced} is invalid: expected a host name or IP address`,
      );
    }
    config.httpEndpointAnnouncedAddress = announced;
  }
  const postBytes = get('KMS_HTTP_ENDPOINT_MAX_BYTES');
  if (postBytes) {
    config.httpEndpointMaxBytes = integer('KMS_HTTP_ENDPOINT_MAX_BYTES', postBytes, 1, 2 ** 52);
  }
  const uploadHosts = get('KMS_RECORDER_ALLOWED_HOSTS');
  if (uploadHosts) {
    config.recorderAllowedHosts = uploadHosts.split(',').map((host) => host.trim().toLowerCase());
  }
  return config;
}
