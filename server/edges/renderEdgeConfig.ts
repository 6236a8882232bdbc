import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's nginx/ folder, found from this file's place in dist/server/edges. */
export const NGINX_TEMPLATE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../nginx',
);

export const DEFAULT_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

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
  workerConnections?: number;
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

  const listen = (host: string, port: number): string =>
    host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const allowLines = (addresses: string[]): string =>
    addresses.map((address) => `            allow ${address};`).join('\n');
  const loopbackReachable = httpHost === '0.0.0.0' || httpHost === '127.0.0.1';
  const values: Record<string, string> = {
    RTMP_MODULE: rtmpModule,
    USER_DIRECTIVE: options.user === undefined ? '' : `user ${options.user};`,
    PREFIX: options.prefix,
    WORKER_CONNECTIONS: String(options.workerConnections ?? 4096),
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
 * Writes the rendered config and the folders nginx needs into `prefix`. The config holds the
 * edge secret, so it is readable by its owner only (nginx's master reads it as that user).
 */
export async function writeEdgePrefix(options: EdgeConfigOptions): Promise<string> {
  const config = renderEdgeConfig(options);
  for (const folder of ['logs', 'hls', 'tmp']) {
    await mkdir(path.join(options.prefix, folder), { recursive: true });
  }
  const file = path.join(options.prefix, 'nginx.conf');
  await writeFile(file, config, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
