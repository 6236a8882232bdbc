/**
 * The edges that serve HLS to viewers, and the choice of one for a viewer: the healthy edge with
 * the fewest open HTTP connections (its `/nginx_status`), probed when a viewer asks (probes take
 * a few ms on a LAN and a watch page asks once). Edges are registered by `npm start` (the local
 * edge and those of MONTAGE_EDGES, server/delivery.ts) and, later, by operators; persisting them
 * is the operator console's issue.
 */
import { probeEdge } from './probeEdge.js';

export interface RegisteredEdge {
  id: string;
  /** Base URL viewers' browsers use, where `/hls/STREAM/index.m3u8` is (possibly a proxy). */
  httpUrl: string;
  /**
   * Base URL the registry probes (`/stat`, `/nginx_status`); `httpUrl` when absent. They differ
   * when viewers reach the edge through a reverse proxy that must not expose the status pages,
   * or through an address the app server cannot use.
   */
  statusUrl?: string;
}

export interface EdgeChoice {
  edge: RegisteredEdge;
  playlistUrl: string;
  healthy: boolean;
}

export class EdgeRegistry {
  readonly #edges = new Map<string, RegisteredEdge>();

  add(edge: RegisteredEdge): void {
    const httpUrl = edge.httpUrl.replace(/\/+$/, '');
    const statusUrl = (edge.statusUrl ?? httpUrl).replace(/\/+$/, '');
    this.#edges.set(edge.id, { id: edge.id, httpUrl, statusUrl });
  }

  remove(id: string): void {
    this.#edges.delete(id);
  }

  list(): RegisteredEdge[] {
    return [...this.#edges.values()];
  }

  /**
   * The least-loaded healthy edge for `stream`; when none answers, the first registered one
   * (the page retries, and a viewer is better served by a URL that may recover than by none).
   */
  async pick(stream: string, timeoutMs = 1500): Promise<EdgeChoice | undefined> {
    const edges = this.list();
    if (edges.length === 0) return undefined;
    const probes = await Promise.all(
      edges.map(async (edge) => ({
        edge,
        probe: await probeEdge(edge.statusUrl ?? edge.httpUrl, { timeoutMs }),
      })),
    );
    const healthy = probes
      .filter(({ probe }) => probe.healthy)
      .sort((a, b) => (a.probe.httpConnections ?? 0) - (b.probe.httpConnections ?? 0));
    const chosen = healthy[0]?.edge ?? edges[0];
    if (chosen === undefined) return undefined;
    return {
      edge: chosen,
      playlistUrl: `${chosen.httpUrl}/hls/${stream}/index.m3u8`,
      healthy: healthy.length > 0,
    };
  }
}
