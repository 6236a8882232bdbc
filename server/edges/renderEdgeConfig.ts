import { readFileSync } from 'node:fs';
import { chmod, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hlsSigningKey } from '../hls/HlsSigner.js';
import { ENCODED_RENDITION_IDS } from '../hls/renditions.js';

/** The repository's nginx/ folder, found from this file's place in dist/server/edges. */
export const NGINX_TEMPLATE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../nginx',
);

export const DEFAULT_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

/** The playlist agent nginx-rtmp runs for each live stream (exec_push), next to this file. */
export const AGENT_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'edgeAgent.js');

/** Fragments in live.m3u8 unless configured: about ten seconds of 1 s fragments. */
export const DEFAULT_LIVE_WINDOW = 10;

/** How long the files of an ended stream stay on the edge unless configured. */
export const DEFAULT_RETENTION = '48h';

/** nginx's file descriptor cache for fragments holds at most this many. */
const OPEN_FILE_CACHE_MAX = 1000;

/** Everything that differs between two edges; the rest is in nginx/edge.conf.template. */
export interface EdgeConfigOptions {
  /** The edge's own folder: nginx prefix, pid, logs, temp paths and HLS files live under it. */
  prefix: string;
  /** HTTP listen address for viewers (default 127.0.0.1; an edge VM uses 0.0.0.0). */
  httpHost?: string;
  httpPort: number;
  /** RTMP listen address for the origin's push (default 127.0.0.1). */
  rtmpHost?: string;
  rtmpPort: number;
  /** Shared secret the origin presents; [A-Za-z0-9_-], at least 16 characters. */
  edgeSecret: string;
  /** Addresses (IP or CIDR) the origin pushes from (default 127.0.0.1). */
  originAllow?: string[];
  /** Addresses allowed to read /stat and /nginx_status (default 127.0.0.1). */
  statAllow?: string[];
  /** nginx-rtmp `hls_fragment`; keep it slightly under the program's keyframe interval. */
  hlsFragment?: string;
  /** nginx-rtmp `hls_playlist_length`; at least the longest assembly (default 8h). */
  hlsPlaylistLength?: string;
  /** `user` directive; omitted when undefined (then nginx uses its own default). */
  user?: string;
  rtmpModule?: string;
  /**
   * `worker_processes` (default 1): more only with an nginx that has nginx-rtmp built in, where
   * rtmp_auto_push works (see nginx/edge.conf.template).
   */
  workerProcesses?: number | 'auto';
  /** `worker_rlimit_nofile` (default: the machine's hard limit, see `sizeConnections`). */
  workerRlimitNofile?: number;
  /** `worker_connections` (default: what the descriptor limit allows, see `sizeConnections`). */
  workerConnections?: number;
  /** Fragments listed in live.m3u8 (default 10). */
  liveWindow?: number;
  /** nginx duration after which an ended stream's files are deleted (default 48h, at least 1h). */
  retention?: string;
  /** The Node.js binary that runs the playlist agent (default: the one rendering). */
  nodeBinary?: string;
  /** Access log path, or `off` (default: off; thousands of viewers make it large). */
  accessLog?: string;
}

const ADDRESS = /^[0-9A-Fa-f:.]+(\/[0-9]{1,3})?$|^all$/;
const NGINX_DURATION = /^[0-9]+(ms|s|m|h|d)?$/;

function check(condition: boolean, message: string): void {
  if (!condition) throw new TypeError(message);
}

/** Parses an nginx duration ("900ms", "8h", "30") into milliseconds. */
export function nginxDurationMs(value: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)?$/.exec(value);
  if (match === null) throw new TypeError(`not an nginx duration: ${value}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's'] ?? 1;
  return Number(match[1]) * unit;
}

/**
 * The hard limit on open files of this process (`ulimit -Hn`), which nginx (started from here,
 * or on this machine by root) can raise its workers to; 4096 when it cannot be read.
 */
export function hardNofileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
    if (hard === 'unlimited') return 1_048_576;
    const value = Number(hard);
    return Number.isInteger(value) && value > 0 ? value : 4096;
  } catch {
    return 4096;
  }
}

/**
 * Descriptor limit and connections of each worker. The limit defaults to the machine's hard
 * limit, capped at 65536 (32k viewers per worker is more than a core serves; nginx allocates
 * every connection slot up front). A viewer's connection needs its socket and, while a fragment
 * is sent, that file; cached fragment descriptors come on top. So connections are half of what
 * the limit leaves after the cache.
 */
export function sizeConnections(options: {
  workerRlimitNofile?: number;
  workerConnections?: number;
}): { nofile: number; connections: number; openFileCache: number } {
  const nofile = options.workerRlimitNofile ?? Math.min(hardNofileLimit(), 65_536);
  const openFileCache = Math.max(16, Math.min(OPEN_FILE_CACHE_MAX, Math.floor(nofile / 8)));
  const connections =
    options.workerConnections ?? Math.max(256, Math.floor((nofile - openFileCache) / 2));
  return { nofile, connections, openFileCache };
}

/**
 * Renders nginx/edge.conf.template. Every value is checked before it reaches the file, so a
 * bad option fails here with a clear message instead of as an nginx parse error (or worse, as
 * an extra directive).
 */
export function renderEdgeConfig(options: EdgeConfigOptions): string {
  const httpHost = options.httpHost ?? '127.0.0.1';
  const rtmpHost = options.rtmpHost ?? '127.0.0.1';
  const originAllow = options.originAllow ?? ['127.0.0.1'];
  const statAllow = options.statAllow ?? ['127.0.0.1'];
  const hlsFragment = options.hlsFragment ?? '900ms';
  const hlsPlaylistLength = options.hlsPlaylistLength ?? '8h';
  check(path.isAbsolute(options.prefix), 'prefix must be an absolute path');
  check(!/[\s;{}"'$]/.test(options.prefix), 'prefix must not contain spaces or ;{}"\'$');
  for (const port of [options.httpPort, options.rtmpPort]) {
    check(Number.isInteger(port) && port > 0 && port < 65536, `bad port ${port}`);
  }
  for (const host of [httpHost, rtmpHost]) {
    check(ADDRESS.test(host) && host !== 'all', `bad listen address ${host}`);
  }
  for (const address of [...originAllow, ...statAllow]) {
    check(ADDRESS.test(address), `bad allow address ${address}`);
  }
  check(/^[A-Za-z0-9_-]{16,}$/.test(options.edgeSecret), 'edgeSecret: 16+ of [A-Za-z0-9_-]');
  check(NGINX_DURATION.test(hlsFragment), `bad hlsFragment ${hlsFragment}`);
  check(NGINX_DURATION.test(hlsPlaylistLength), `bad hlsPlaylistLength ${hlsPlaylistLength}`);
  check(
    nginxDurationMs(hlsPlaylistLength) >= 3_600_000,
    'hlsPlaylistLength must cover a whole assembly (at least 1h)',
  );
  check(
    options.user === undefined || /^[a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?$/.test(options.user),
    'bad user',
  );
  const accessLog = options.accessLog ?? 'off';
  check(!/[\s;{}"'$]/.test(accessLog), 'bad accessLog');
  const rtmpModule = options.rtmpModule ?? DEFAULT_RTMP_MODULE;
  check(path.isAbsolute(rtmpModule), 'rtmpModule must be an absolute path');
  const workerProcesses = options.workerProcesses ?? 1;
  check(
    workerProcesses === 'auto' ||
      (Number.isInteger(workerProcesses) && workerProcesses >= 1 && workerProcesses <= 256),
    `workerProcesses must be auto or 1..256: ${workerProcesses}`,
  );
  for (const [name, value] of [
    ['workerRlimitNofile', options.workerRlimitNofile],
    ['workerConnections', options.workerConnections],
  ] as const) {
    check(
      value === undefined || (Number.isInteger(value) && value >= 64 && value <= 1_048_576),
      `${name} must be an integer from 64 to 1048576: ${value}`,
    );
  }
  const sized = sizeConnections(options);
  check(
    sized.connections <= sized.nofile,
    `workerConnections (${sized.connections}) must not exceed workerRlimitNofile (${sized.nofile})`,
  );
  const liveWindow = options.liveWindow ?? DEFAULT_LIVE_WINDOW;
  check(
    Number.isInteger(liveWindow) && liveWindow >= 3 && liveWindow <= 1000,
    `liveWindow must be 3..1000 fragments: ${liveWindow}`,
  );
  const retention = options.retention ?? DEFAULT_RETENTION;
  check(NGINX_DURATION.test(retention), `bad retention ${retention}`);
  check(nginxDurationMs(retention) >= 3_600_000, 'retention must be at least 1h');
  const nodeBinary = options.nodeBinary ?? process.execPath;
  for (const [name, file] of [
    ['nodeBinary', nodeBinary],
    ['the agent script', AGENT_SCRIPT],
  ] as const) {
    check(path.isAbsolute(file), `${name} must be an absolute path`);
    check(!/[\s;{}"'$&<>]/.test(file), `${name} must not contain spaces or ;{}"'$&<>: ${file}`);
  }
  // rtmp_auto_push binds a unix socket per worker there (sun_path holds 107 characters).
  check(
    path.join(options.prefix, 'tmp/rtmp/nginx-rtmp.999').length <= 107,
    "prefix is too long for nginx-rtmp's unix sockets (at most about 80 characters)",
  );

  const listen = (host: string, port: number): string =>
    host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const allowLines = (addresses: string[]): string =>
    addresses.map((address) => `            allow ${address};`).join('\n');
  const loopbackReachable = httpHost === '0.0.0.0' || httpHost === '127.0.0.1';
  const values: Record<string, string> = {
    RTMP_MODULE: rtmpModule,
    USER_DIRECTIVE: options.user === undefined ? '' : `user ${options.user};`,
    PREFIX: options.prefix,
    WORKER_PROCESSES: String(workerProcesses),
    WORKER_RLIMIT_NOFILE: String(sized.nofile),
    WORKER_CONNECTIONS: String(sized.connections),
    OPEN_FILE_CACHE: String(sized.openFileCache),
    AGENT_COMMAND: [
      nodeBinary,
      // The agent allocates a playlist's worth of short-lived strings every second. V8 grows
      // the young generation to 16 MB semi-spaces for such a rate, which is 30 MB of RSS per
      // stream for nothing; 1 MB measured the same work at 70 MB instead of 95 after an hour.
      '--max-semi-space-size=1',
      AGENT_SCRIPT,
      '--hls-dir',
      path.join(options.prefix, 'hls'),
      '--window',
      String(liveWindow),
      '--retention',
      retention,
    ].join(' '),
    RTMP_LISTEN: listen(rtmpHost, options.rtmpPort),
    PUBLISH_ALLOW: originAllow.map((address) => `            allow publish ${address};`).join('\n'),
    AUTH_HOST: '127.0.0.1',
    HTTP_PORT: String(options.httpPort),
    HTTP_LISTEN: listen(httpHost, options.httpPort),
    // on_publish calls back over loopback, so loopback must reach the HTTP server.
    AUTH_LISTEN: loopbackReachable ? '' : `        listen 127.0.0.1:${options.httpPort};`,
    HLS_FRAGMENT: hlsFragment,
    HLS_PLAYLIST_LENGTH: hlsPlaylistLength,
    STAT_ALLOW: allowLines(statAllow),
    EDGE_SECRET: options.edgeSecret,
    // Checked by secure_link on every viewer's request (server/hls/HlsSigner.ts).
    HLS_SIGNING_KEY: hlsSigningKey(options.edgeSecret),
    RENDITION_SUFFIXES: ENCODED_RENDITION_IDS.join('|'),
    ACCESS_LOG: accessLog,
  };
  const template = readFileSync(path.join(NGINX_TEMPLATE_DIR, 'edge.conf.template'), 'utf8');
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`edge.conf.template uses unknown {{${key}}}`);
    return value;
  });
}

/**
 * The files and folders nginx's workers (and the playlist agents they run) write, which must
 * belong to the worker user when nginx starts as root: the HLS folder, the unix sockets of
 * rtmp_auto_push and the agents' log.
 */
export const WORKER_WRITABLE = ['hls', 'tmp/rtmp', 'logs/agent.log'];

/**
 * Writes the rendered config and the folders nginx needs into `prefix`. The config holds the
 * edge secret, so it is readable by its owner only (nginx's master reads it as that user).
 */
export async function writeEdgePrefix(options: EdgeConfigOptions): Promise<string> {
  const config = renderEdgeConfig(options);
  for (const folder of ['logs', 'hls', 'tmp', 'tmp/rtmp']) {
    await mkdir(path.join(options.prefix, folder), { recursive: true });
  }
  // The agents append to it as the worker user, who may not create files in logs/.
  await (await open(path.join(options.prefix, 'logs', 'agent.log'), 'a')).close();
  const file = path.join(options.prefix, 'nginx.conf');
  await writeFile(file, config, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
