/**
 * Watches one edge: probes it in the background (`probeEdge`) every `intervalMs`, never more
 * than one probe at a time, each bounded by `timeoutMs`, and turns the probes into the edge's
 * status: healthy or not, why, its load and its streams.
 *
 * An edge is healthy while its /stat answers and it serves every stream that is live on the
 * origin: each must be published on the edge (the origin's push arrives) and its playlist must
 * be served and keep growing. A stream gets `streamGraceMs` after it goes live (or after the
 * monitor starts) before it counts, because a push takes a moment to connect and the first
 * fragment a moment to be written. One failed probe is not enough to call an edge unhealthy
 * (a busy machine can miss a deadline); `failuresToUnhealthy` in a row are. One good probe
 * makes it healthy again.
 */
import { EventEmitter } from 'node:events';
import { probeEdge, type EdgeProbe, type HlsPath } from './probeEdge.js';
import type { EdgeStatus, EdgeStreamStatus } from './wire.js';

export type { EdgeStatus, EdgeStreamStatus };

export interface EdgeMonitorOptions {
  /** The base URL of the edge's /stat, /nginx_status and /hls. */
  statusUrl: string;
  /** The streams live on the origin now, which the edge must serve. */
  liveStreams: () => readonly string[];
  /** Where a stream's playlist is on the edge (signed, see probeEdge). */
  hlsPath?: HlsPath;
  intervalMs: number;
  timeoutMs: number;
  failuresToUnhealthy: number;
  streamGraceMs: number;
}

export interface EdgeMonitorEvents {
  /** A probe finished (not after `stop()`). */
  probed: [status: EdgeStatus];
}

/** A stream's progress as the monitor has seen it. */
interface StreamTrack {
  /** When the stream was first seen live on the origin by this monitor. */
  liveSince: number;
  lastFragment: string | undefined;
  /** When `lastFragment` last changed. */
  advancedAt: number;
}

export class EdgeMonitor extends EventEmitter<EdgeMonitorEvents> {
  readonly #options: EdgeMonitorOptions;
  readonly #tracks = new Map<string, StreamTrack>();
  #status: EdgeStatus = {
    healthy: false,
    reachable: false,
    probedAt: undefined,
    consecutiveFailures: 0,
    error: undefined,
    lastError: undefined,
    latencyMs: undefined,
    httpConnections: undefined,
    requestsPerSecond: undefined,
    bwIn: undefined,
    bwOut: undefined,
    uptimeSeconds: undefined,
    streams: [],
  };
  #running = false;
  #startedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The probe under way, so that `stop()` can abort it and wait for it. */
  #inFlight: { abort: AbortController; done: Promise<void> } | undefined;
  #lastRequests: { requests: number; at: number } | undefined;

  constructor(options: EdgeMonitorOptions) {
    super();
    this.#options = options;
  }

  get status(): EdgeStatus {
    return this.#status;
  }

  /** Starts probing at once, then every `intervalMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = Date.now();
    this.#schedule(0);
  }

  /** Stops probing; resolves once a probe under way has been aborted. Safe to call twice. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const inFlight = this.#inFlight;
    inFlight?.abort.abort();
    await inFlight?.done;
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => this.#probe(), delayMs);
    // Probing never keeps the process alive on its own.
    this.#timer.unref();
  }

  #probe(): void {
    const started = Date.now();
    const abort = new AbortController();
    const live = [...this.#options.liveStreams()];
    const done = probeEdge(this.#options.statusUrl, {
      streams: live,
      hlsPath: this.#options.hlsPath,
      timeoutMs: this.#options.timeoutMs,
      signal: abort.signal,
    }).then((probe) => {
      this.#inFlight = undefined;
      if (!this.#running) return;
      this.#apply(probe, live, Date.now());
      this.emit('probed', this.#status);
      this.#schedule(Math.max(0, this.#options.intervalMs - (Date.now() - started)));
    });
    this.#inFlight = { abort, done };
  }

  #apply(probe: EdgeProbe, live: readonly string[], now: number): void {
    const options = this.#options;
    const reachable = probe.totals !== undefined;
    // Forget streams that ended; start the grace period of streams that just went live.
    const liveSet = new Set(live);
    for (const name of this.#tracks.keys()) if (!liveSet.has(name)) this.#tracks.delete(name);
    for (const name of live) {
      if (!this.#tracks.has(name)) {
        this.#tracks.set(name, { liveSince: now, lastFragment: undefined, advancedAt: now });
      }
    }

    const problems: string[] = [];
    if (!reachable) problems.push(probe.error ?? 'unreachable');
    const streams: EdgeStreamStatus[] = [];
    const byName = new Map(probe.streams.map((stream) => [stream.name, stream]));
    for (const name of new Set([...live, ...byName.keys()])) {
      const stat = byName.get(name);
      const check = probe.playlists.find((playlist) => playlist.stream === name);
      const track = this.#tracks.get(name);
      if (track !== undefined && check?.lastFragment !== undefined) {
        if (check.lastFragment !== track.lastFragment) {
          track.lastFragment = check.lastFragment;
          track.advancedAt = now;
        }
      }
      streams.push({
        name,
        clients: stat?.clients ?? 0,
        publishing: stat?.publishing ?? false,
        bytesIn: stat?.bytesIn ?? 0,
        bytesOut: stat?.bytesOut ?? 0,
        bwIn: stat?.bwIn ?? 0,
        bwOut: stat?.bwOut ?? 0,
        live: track !== undefined,
        playlistOk: check?.ok,
        lastFragment: check?.lastFragment,
        advancedAt:
          track?.lastFragment === undefined ? undefined : new Date(track.advancedAt).toISOString(),
      });
      if (!reachable || track === undefined) continue;
      const since = Math.max(track.liveSince, this.#startedAt);
      if (now - since < options.streamGraceMs) continue;
      if (stat?.publishing !== true) {
        problems.push(`not receiving ${name} from the origin (check its ingest URL and secret)`);
      } else if (check?.ok !== true) {
        problems.push(`playlist of ${name}: ${check?.error ?? 'not read'}`);
      } else if (now - track.advancedAt > options.streamGraceMs) {
        const seconds = Math.round((now - track.advancedAt) / 1000);
        problems.push(`playlist of ${name} stalled: no new fragment for ${seconds} s`);
      }
    }

    let requestsPerSecond: number | undefined;
    if (probe.requests !== undefined) {
      const last = this.#lastRequests;
      // A smaller counter means nginx restarted: no rate until the next probe.
      if (last !== undefined && probe.requests >= last.requests && now > last.at) {
        requestsPerSecond = ((probe.requests - last.requests) * 1000) / (now - last.at);
      }
      this.#lastRequests = { requests: probe.requests, at: now };
    }

    const previous = this.#status;
    const failed = problems.length > 0;
    const consecutiveFailures = failed ? previous.consecutiveFailures + 1 : 0;
    const at = new Date(now).toISOString();
    const error = failed ? problems.join('; ') : undefined;
    this.#status = {
      healthy: failed
        ? previous.healthy && consecutiveFailures < options.failuresToUnhealthy
        : true,
      reachable,
      probedAt: at,
      consecutiveFailures,
      error,
      lastError: error === undefined ? previous.lastError : { message: error, at },
      latencyMs: probe.latencyMs,
      // A /nginx_status that missed this probe's deadline leaves the last figure standing.
      httpConnections: probe.httpConnections ?? (reachable ? previous.httpConnections : undefined),
      requestsPerSecond,
      bwIn: probe.totals?.bwIn,
      bwOut: probe.totals?.bwOut,
      uptimeSeconds: probe.totals?.uptimeSeconds,
      streams,
    };
  }
}
