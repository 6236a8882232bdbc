/**
 * One probe of one nginx-rtmp edge, as the edge registry runs it every second or two: `/stat`
 * (nginx-rtmp `rtmp_stat all`: streams, RTMP clients, bandwidth), `/nginx_status`
 * (`stub_status`: HTTP connections and requests, the viewer load), and the tail of the playlist
 * of each stream asked for (is it served, and which fragment is the newest).
 *
 * The requests of a probe go out one after the other, each on its own connection that nginx
 * closes after answering, under one deadline: the probe then holds exactly one of the
 * connections `stub_status` counts (the one it asks on), which the viewer figure leaves out,
 * and a slow edge cannot hold a probe longer than its timeout.
 */
import type { EdgeStreamStat } from './wire.js';

export type { EdgeStreamStat };

/** The whole RTMP server's figures from `/stat`. */
export interface RtmpTotals {
  bwIn: number;
  bwOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Seconds since nginx started: a restart shows as a smaller figure. */
  uptimeSeconds: number;
}

/** nginx's `stub_status`. */
export interface StubStatus {
  /** Every open connection, RTMP ones included. */
  active: number;
  reading: number;
  writing: number;
  waiting: number;
  /** HTTP requests served since nginx started (a counter). */
  requests: number;
}

/** The tail of one stream's playlist. */
export interface PlaylistCheck {
  stream: string;
  /** Served (200 or 206) as an HLS playlist that lists at least one fragment. */
  ok: boolean;
  /** The newest fragment's URI; it changes every fragment while the stream is live. */
  lastFragment: string | undefined;
  /** Why it is not ok. */
  error: string | undefined;
}

export interface EdgeProbe {
  /** /stat answered and every playlist asked for is served. */
  healthy: boolean;
  /** Round trip of the /stat request. */
  latencyMs: number;
  streams: EdgeStreamStat[];
  totals: RtmpTotals | undefined;
  /**
   * Open HTTP connections other than the probe's own (HLS viewers, roughly: players keep one
   * or two open), from /nginx_status; undefined when it is not served.
   */
  httpConnections: number | undefined;
  /** HTTP requests served since nginx started; undefined when /nginx_status is not served. */
  requests: number | undefined;
  /** One check per stream asked for (`options.streams`), in that order. */
  playlists: PlaylistCheck[];
  /** The check of `options.stream`, when one was asked for. */
  hls: PlaylistCheck | undefined;
  /** Why the probe is not healthy. */
  error: string | undefined;
}

/**
 * The playlist probed per stream: the live playlist the edge's playlist agent writes and players
 * reload, so a probe sees what viewers see. How many bytes of its end are read: enough for the
 * last few fragments (it lists ten or so).
 */
export const PROBED_PLAYLIST = 'live.m3u8';
const PLAYLIST_TAIL_BYTES = 1024;

function tag(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

function numberTag(xml: string, name: string): number {
  const value = Number(tag(xml, name) ?? 0);
  return Number.isFinite(value) ? value : 0;
}

/** Reads nginx-rtmp's stat XML: every stream of every application. */
export function parseRtmpStat(xml: string): EdgeStreamStat[] {
  const streams: EdgeStreamStat[] = [];
  for (const match of xml.matchAll(/<stream>([\s\S]*?)<\/stream>/g)) {
    const body = match[1] ?? '';
    // The stream's own fields come after its <client> and <meta> children.
    const own = body
      .replace(/<client>[\s\S]*?<\/client>/g, '')
      .replace(/<meta>[\s\S]*?<\/meta>/g, '');
    streams.push({
      name: tag(own, 'name') ?? '',
      clients: numberTag(own, 'nclients'),
      publishing: /<publishing\/>/.test(own),
      bytesIn: numberTag(own, 'bytes_in'),
      bytesOut: numberTag(own, 'bytes_out'),
      bwIn: numberTag(own, 'bw_in'),
      bwOut: numberTag(own, 'bw_out'),
    });
  }
  return streams;
}

/** The server-wide figures of nginx-rtmp's stat XML (those before its first `<server>`). */
export function parseRtmpTotals(xml: string): RtmpTotals {
  const head = xml.split('<server>')[0] ?? '';
  return {
    bwIn: numberTag(head, 'bw_in'),
    bwOut: numberTag(head, 'bw_out'),
    bytesIn: numberTag(head, 'bytes_in'),
    bytesOut: numberTag(head, 'bytes_out'),
    uptimeSeconds: numberTag(head, 'uptime'),
  };
}

/** Reads nginx's stub_status page; undefined when `text` is not one. */
export function parseStubStatus(text: string): StubStatus | undefined {
  const active = /Active connections:\s*(\d+)/.exec(text)?.[1];
  const counters = /server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  const states = /Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)/.exec(text);
  if (active === undefined || counters?.[3] === undefined || states?.[3] === undefined) {
    return undefined;
  }
  return {
    active: Number(active),
    requests: Number(counters[3]),
    reading: Number(states[1]),
    writing: Number(states[2]),
    waiting: Number(states[3]),
  };
}

/** The newest fragment listed at the end of a playlist (or of its tail). */
function lastFragmentOf(playlist: string): string | undefined {
  const lines = playlist.split('\n').map((line) => line.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i];
    if (line === undefined || line === '' || line.startsWith('#')) continue;
    // The first line of a tail may be cut in the middle; only a line after an #EXTINF counts.
    if (lines[i - 1]?.startsWith('#EXTINF') !== true) continue;
    return line;
  }
  return undefined;
}

function describe(error: unknown, deadlineMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') {
      return `no answer within ${deadlineMs} ms`;
    }
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND...) is its cause.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
    }
    return error.message;
  }
  return String(error);
}

async function get(
  url: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  // A connection per request, closed by nginx once it answered: a pooled keep-alive
  // connection would linger as one of the edge's "waiting" connections and count as a viewer.
  const response = await fetch(url, { signal, headers: { ...headers, connection: 'close' } });
  return { status: response.status, body: await response.text() };
}

async function checkPlaylist(
  base: string,
  stream: string,
  signal: AbortSignal,
  deadlineMs: number,
  hlsPath: HlsPath,
): Promise<PlaylistCheck> {
  const url = `${base}${hlsPath(stream, PROBED_PLAYLIST)}`;
  try {
    const { status, body } = await get(url, signal, { range: `bytes=-${PLAYLIST_TAIL_BYTES}` });
    if (status !== 200 && status !== 206) {
      return {
        stream,
        ok: false,
        lastFragment: undefined,
        error: `${PROBED_PLAYLIST} answered ${status}`,
      };
    }
    const lastFragment = lastFragmentOf(body);
    const listed = lastFragment !== undefined && (status === 206 || body.startsWith('#EXTM3U'));
    return {
      stream,
      ok: listed,
      lastFragment,
      error: listed ? undefined : `${PROBED_PLAYLIST} lists no fragment`,
    };
  } catch (error) {
    return { stream, ok: false, lastFragment: undefined, error: describe(error, deadlineMs) };
  }
}

export interface ProbeOptions {
  /** One stream whose playlist must be served for the probe to be healthy. */
  stream?: string;
  /** Streams whose playlists are read (the registry passes the origin's live streams). */
  streams?: readonly string[];
  /** The whole probe's deadline (default 3 s). */
  timeoutMs?: number;
  /** Aborts the probe (the registry stopping). */
  signal?: AbortSignal;
  /**
   * The path of a stream's file on the edge: edges serve HLS under signed paths only
   * (server/hls/HlsSigner.ts), so the registry signs; unsigned `/hls/STREAM/FILE` by default.
   */
  hlsPath?: HlsPath;
}

/** The path of `file` of `stream`'s HLS on an edge, from the root. */
export type HlsPath = (stream: string, file: string) => string;

export const UNSIGNED_HLS_PATH: HlsPath = (stream, file) =>
  `/hls/${encodeURIComponent(stream)}/${file}`;

/**
 * Probes one edge at `baseUrl` (its status URL). Never throws: a failure is an unhealthy probe
 * with `error` set.
 */
export async function probeEdge(baseUrl: string, options: ProbeOptions = {}): Promise<EdgeProbe> {
  const base = baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 3000;
  const signal =
    options.signal === undefined
      ? AbortSignal.timeout(timeoutMs)
      : AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]);
  const started = Date.now();
  const probe: EdgeProbe = {
    healthy: false,
    latencyMs: 0,
    streams: [],
    totals: undefined,
    httpConnections: undefined,
    requests: undefined,
    playlists: [],
    hls: undefined,
    error: undefined,
  };
  try {
    const stat = await get(`${base}/stat`, signal);
    probe.latencyMs = Date.now() - started;
    if (stat.status !== 200 || !stat.body.includes('<rtmp>')) {
      probe.error =
        stat.status === 200
          ? '/stat is not nginx-rtmp statistics'
          : `/stat answered ${stat.status}`;
      return probe;
    }
    probe.streams = parseRtmpStat(stat.body);
    probe.totals = parseRtmpTotals(stat.body);
  } catch (error) {
    probe.latencyMs = Date.now() - started;
    probe.error = `/stat: ${describe(error, timeoutMs)}`;
    return probe;
  }
  // The rest is load and detail: an edge whose /stat answers serves, even if these fail.
  try {
    const status = await get(`${base}/nginx_status`, signal);
    const stub = status.status === 200 ? parseStubStatus(status.body) : undefined;
    if (stub !== undefined) {
      // RTMP connections count as active but in none of the HTTP states; the probe's own
      // connection is the one writing this answer.
      probe.httpConnections = Math.max(0, stub.reading + stub.writing + stub.waiting - 1);
      probe.requests = stub.requests;
    }
  } catch {
    // Not served (an edge whose stub_status is not allowed for us): the load is unknown.
  }
  const wanted = [
    ...(options.stream === undefined ? [] : [options.stream]),
    ...(options.streams ?? []),
  ];
  const checked = new Map<string, PlaylistCheck>();
  for (const stream of new Set(wanted)) {
    checked.set(
      stream,
      await checkPlaylist(base, stream, signal, timeoutMs, options.hlsPath ?? UNSIGNED_HLS_PATH),
    );
  }
  probe.playlists = (options.streams ?? []).flatMap((stream) => checked.get(stream) ?? []);
  probe.hls = options.stream === undefined ? undefined : checked.get(options.stream);
  const failed = [...checked.values()].find((check) => !check.ok);
  if (failed !== undefined) {
    probe.error = `playlist of ${failed.stream}: ${failed.error ?? 'not served'}`;
    return probe;
  }
  probe.healthy = true;
  return probe;
}
