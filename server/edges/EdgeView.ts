/**
 * What the rest of the app server may know about the edge fleet: the registry
 * (`EdgeRegistry`, persisted, probed, operated at run time) implements `EdgeFleetView`, and the
 * watch API and HLS content steering read it to rank edges for viewers.
 */

/** `draining`: no new viewers; viewers on it move away at their next steering reload. */
export type EdgeState = 'active' | 'draining';

export interface EdgeView {
  /** Names the edge: its pathway id in HLS content steering, in logs and in the audit log. */
  id: string;
  /** Base URL viewers' browsers use: `${publicUrl}/hls/<stream>/live.m3u8`. No trailing slash. */
  publicUrl: string;
  state: EdgeState;
  /** The last probe found the edge serving (its /stat answered). */
  healthy: boolean;
  /** Open HTTP connections at the last probe (viewers, roughly); undefined when unknown. */
  httpConnections: number | undefined;
}

export interface EdgeFleetView {
  /** Every registered edge as of the latest probes, in registration order. */
  snapshot(): EdgeView[];
}
