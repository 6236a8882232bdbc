/** One RTMP stream as an edge's `/stat` (nginx-rtmp `rtmp_stat all`) reports it. */
export interface EdgeStreamStat {
  name: string;
  /** RTMP clients of the stream: the origin's push, plus any RTMP players. */
  clients: number;
  publishing: boolean;
  bytesIn: number;
  /** Incoming bit rate in bits per second as nginx-rtmp measures it (updated every ~10 s). */
  bwIn: number;
}

export interface EdgeProbe {
  /** /stat answered and, when a stream was asked for, its playlist is served. */
  healthy: boolean;
  /** Round trip of the /stat request. */
  latencyMs: number;
  streams: EdgeStreamStat[];
  /** Open HTTP connections (HLS viewers), from /nginx_status; the figure to balance on. */
  httpConnections: number | undefined;
  /** Whether the playlist of `options.stream` was served and lists at least one fragment. */
  hls: { stream: string; ok: boolean; fragments: number } | undefined;
  error: string | undefined;
}

function tag(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

/** Reads nginx-rtmp's stat XML; only the `live` application's streams are of interest. */
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
      clients: Number(tag(own, 'nclients') ?? 0),
      publishing: /<publishing\/>/.test(own),
      bytesIn: Number(tag(own, 'bytes_in') ?? 0),
      bwIn: Number(tag(own, 'bw_in') ?? 0),
    });
  }
  return streams;
}

async function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/**
 * Probes one edge the way the app server's edge registry does: `/stat` for streams and RTMP
 * clients, `/nginx_status` for HTTP load, and optionally one stream's playlist. Never throws:
 * a failure is an unhealthy probe with `error` set.
 */
export async function probeEdge(
  baseUrl: string,
  options: { stream?: string; timeoutMs?: number } = {},
): Promise<EdgeProbe> {
  const base = baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 3000;
  const started = Date.now();
  const probe: EdgeProbe = {
    healthy: false,
    latencyMs: 0,
    streams: [],
    httpConnections: undefined,
    hls: undefined,
    error: undefined,
  };
  try {
    const stat = await get(`${base}/stat`, timeoutMs);
    probe.latencyMs = Date.now() - started;
    if (stat.status !== 200 || !stat.body.includes('<rtmp>')) {
      probe.error = `/stat answered ${stat.status}`;
      return probe;
    }
    probe.streams = parseRtmpStat(stat.body);
    const status = await get(`${base}/nginx_status`, timeoutMs).catch(() => undefined);
    const active =
      status === undefined ? undefined : /Active connections:\s*(\d+)/.exec(status.body);
    // The probe's own connection is one of them.
    probe.httpConnections =
      active?.[1] === undefined ? undefined : Math.max(0, Number(active[1]) - 1);
    if (options.stream !== undefined) {
      const playlist = await get(`${base}/hls/${options.stream}/index.m3u8`, timeoutMs).catch(
        () => undefined,
      );
      const fragments = playlist?.body.match(/^#EXTINF:/gm)?.length ?? 0;
      const ok = playlist?.status === 200 && playlist.body.startsWith('#EXTM3U') && fragments > 0;
      probe.hls = { stream: options.stream, ok, fragments };
      if (!ok) {
        probe.error = `playlist of ${options.stream} not served`;
        return probe;
      }
    }
    probe.healthy = true;
  } catch (error) {
    probe.latencyMs = Date.now() - started;
    probe.error = error instanceof Error ? error.message : String(error);
  }
  return probe;
}
