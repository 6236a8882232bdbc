/**
 * The edge fleet as the REST API (`/api/edges`, `/api/audit`) sends it and the operator page
 * reads it. This file imports nothing, so that the browser bundles (public/src) can import its
 * types too; the server's own types (`EdgeDetails`, `EdgeStatus`) are these.
 */

/** One RTMP stream as an edge's `/stat` (nginx-rtmp `rtmp_stat all`) reports it. */
export interface EdgeStreamStat {
  name: string;
  /** RTMP clients of the stream: the origin's push, plus any RTMP players. */
  clients: number;
  publishing: boolean;
  bytesIn: number;
  bytesOut: number;
  /** Incoming bit rate in bits per second as nginx-rtmp measures it (updated every ~10 s). */
  bwIn: number;
  /** Outgoing RTMP bit rate (RTMP players only; HLS is served over HTTP and not counted). */
  bwOut: number;
}

/** One stream on an edge, or one that is live on the origin and should be there. */
export interface EdgeStreamStatus extends EdgeStreamStat {
  /** Live on the origin, so the edge must serve it. */
  live: boolean;
  /** Whether its playlist was served at the last probe; undefined when it was not read. */
  playlistOk: boolean | undefined;
  /** The newest fragment its playlist lists. */
  lastFragment: string | undefined;
  /** When the newest fragment last changed (ISO 8601). */
  advancedAt: string | undefined;
}

/** An edge's health and load, from the app server's latest probes. */
export interface EdgeStatus {
  /**
   * Serving: its /stat answers and every stream live on the origin is published there with a
   * playlist that keeps growing. False until a probe passed and after three failed probes in a
   * row; true again after one probe passed.
   */
  healthy: boolean;
  /** The last probe's /stat answered (the edge is up, even if it does not serve yet). */
  reachable: boolean;
  /** When the last probe finished (ISO 8601); undefined before the first. */
  probedAt: string | undefined;
  /** Failed probes in a row (0 after a probe passed). */
  consecutiveFailures: number;
  /** Why the last probe failed; undefined when it passed. */
  error: string | undefined;
  /** The newest failure, kept after the edge recovers so that operators see what happened. */
  lastError: { message: string; at: string } | undefined;
  /** Round trip of the last /stat, in ms. */
  latencyMs: number | undefined;
  /** Open HTTP connections besides the probe's (HLS viewers, roughly), from /nginx_status. */
  httpConnections: number | undefined;
  /** HTTP requests per second between the last two probes (playlist and fragment fetches). */
  requestsPerSecond: number | undefined;
  /** The RTMP server's incoming and outgoing bit rates from /stat, in bits per second. */
  bwIn: number | undefined;
  bwOut: number | undefined;
  /** Seconds since the edge's nginx started. */
  uptimeSeconds: number | undefined;
  /** The streams on the edge and the live streams it should have. */
  streams: EdgeStreamStatus[];
}

/** One edge as `GET /api/edges` lists it. */
export interface EdgeWire {
  /** Names the edge: in logs, the audit log and as its HLS content steering pathway. */
  id: string;
  /** Base URL viewers' browsers fetch `/hls/...` from. */
  publicUrl: string;
  /** rtmp://HOST:PORT/APP where the origin pushes every live stream. */
  ingestUrl: string;
  /** Base URL the app server probes. */
  statusUrl: string;
  /** `draining`: no new viewers; the origin keeps pushing until the edge is removed. */
  state: 'active' | 'draining';
  /** The edge `npm start` runs inside this app server: it can be drained, not removed. */
  local: boolean;
  /** "operator", "config" (seeded from MONTAGE_EDGES), or "app" (the local edge). */
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  status: EdgeStatus;
}

/** The body of `POST /api/edges`. */
export interface NewEdgeWire {
  id?: string;
  publicUrl: string;
  ingestUrl: string;
  statusUrl?: string;
}

/** One audit log entry as `GET /api/audit` lists it. */
export interface AuditEntryWire {
  seq: number;
  at: string;
  actor: string;
  action: string;
  assemblyId: string | undefined;
  details: Record<string, unknown>;
}
