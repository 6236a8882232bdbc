/**
 * HLS content steering: which edge (pathway) each viewer's player uses, and which it falls back
 * to. The app server answers every player's steering manifest request (every TTL seconds) from
 * memory, with no I/O: players are spread evenly over the edges that are active and healthy,
 * weighted by what this server assigned and by the load the edges report.
 *
 * A player is one session: the watch API mints its id, the multivariant playlist carries it in
 * SERVER-URI and the steering manifest in RELOAD-URI. A session keeps its edge (sticky) unless
 *  - the edge is draining, unhealthy or gone: it moves at its next reload;
 *  - the player left the edge by itself (`_HLS_pathway` names another one): it failed there,
 *    and hls.js keeps a failed pathway in its penalty box for five minutes, so the session is
 *    counted where it is and not sent back before then;
 *  - its edge carries clearly more viewers than the least-loaded one (an edge came back or was
 *    added): just enough sessions move, one reload at a time.
 * Sessions that stop asking expire after three TTLs. A session this server does not know (it
 * restarted, or the session expired while a tab slept) is taken up again where its player is.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../domain/errors.js';
import type { Brand } from '../domain/ids.js';
import type { EdgeFleetView, EdgeView } from '../edges/EdgeView.js';

export type SteeringSessionId = Brand<'SteeringSessionId'>;

const SESSION_ID = /^[A-Za-z0-9_-]{16,32}$/;
/** HLS content steering: a pathway id is made of these (and edge ids are, see config.ts). */
export const PATHWAY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** How long hls.js keeps a pathway it failed on out of use (content-steering-controller.ts). */
const PLAYER_PENALTY_MS = 300_000;

export function newSessionId(): SteeringSessionId {
  return randomBytes(12).toString('base64url') as SteeringSessionId;
}

export function parseSessionId(text: string, what: string): SteeringSessionId {
  if (!SESSION_ID.test(text)) {
    throw new InvalidArgumentError(`${what} must be 16 to 32 of A-Z a-z 0-9 _ - (a session id)`);
  }
  return text as SteeringSessionId;
}

export interface ContentSteeringOptions {
  fleet: EdgeFleetView;
  /** Seconds between a player's steering reloads. */
  ttlSeconds: number;
  /** Sessions beyond this many are forgotten, oldest first (default 200,000). */
  maxSessions?: number;
  /** Milliseconds since the epoch; tests pass their own clock. */
  now?: () => number;
}

interface Session {
  id: SteeringSessionId;
  assembly: string;
  /** The edge this session is counted on. */
  pathway: string | undefined;
  /** The pathways of the multivariant playlist the player loaded. */
  known: Set<string>;
  lastSeen: number;
  /** Pathways the player left by itself, and when. */
  left: Map<string, number>;
}

/** Where a player should go, for its multivariant playlist. */
export interface Opened {
  session: SteeringSessionId;
  pathwayId: string;
  /** The pathways to list, in fleet order. */
  edges: EdgeView[];
}

/** What a steering manifest says, before it is written as JSON. */
export interface Steered {
  /** PATHWAY-PRIORITY: the session's edge first, then where to fail over to. */
  priority: string[];
  /** Edges the player's multivariant playlist does not list, to be cloned from `cloneBase`. */
  clones: EdgeView[];
  cloneBase: string | undefined;
}

export class ContentSteering {
  readonly ttlSeconds: number;
  readonly #fleet: EdgeFleetView;
  readonly #maxSessions: number;
  readonly #now: () => number;
  readonly #expiryMs: number;
  /** Oldest first: a session is moved to the end whenever it is seen. */
  readonly #sessions = new Map<SteeringSessionId, Session>();
  /** Sessions counted on each edge. */
  readonly #assigned = new Map<string, number>();

  constructor(options: ContentSteeringOptions) {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new TypeError('ttlSeconds must be a positive integer');
    }
    this.ttlSeconds = options.ttlSeconds;
    this.#fleet = options.fleet;
    this.#maxSessions = options.maxSessions ?? 200_000;
    this.#now = options.now ?? Date.now;
    // Three missed reloads, plus slack for a slow network or a busy tab.
    this.#expiryMs = 3 * options.ttlSeconds * 1000 + 10_000;
  }

  /** Sessions counted on each edge right now (tests, metrics, the operator's view). */
  assignments(): Map<string, number> {
    this.#expire();
    return new Map([...this.#assigned].filter(([, count]) => count > 0));
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * A player loads the multivariant playlist: its session (the one given, or a new one) is
   * placed on an edge. Undefined when there is no edge to list at all.
   */
  open(assembly: string, sessionId: SteeringSessionId | undefined): Opened | undefined {
    this.#expire();
    const snapshot = this.#fleet.snapshot();
    const listed = listedEdges(snapshot);
    if (listed.length === 0) return undefined;
    const session = this.#session(sessionId ?? newSessionId(), assembly);
    session.known = new Set(listed.map((edge) => edge.id));
    this.#place(session, snapshot);
    return { session: session.id, pathwayId: session.pathway ?? firstOf(listed), edges: listed };
  }

  /**
   * A player reloads its steering manifest, saying which pathway it is on (`_HLS_pathway`).
   */
  steer(assembly: string, sessionId: SteeringSessionId, reported: string | undefined): Steered {
    this.#expire();
    const snapshot = this.#fleet.snapshot();
    const byId = new Map(snapshot.map((edge) => [edge.id, edge]));
    const now = this.#now();
    let session = this.#sessions.get(sessionId);
    if (session === undefined) {
      // Taken up again where the player is: it keeps its edge if that is still a good one.
      session = this.#session(sessionId, assembly);
      if (reported !== undefined && byId.has(reported)) {
        session.known = new Set([reported]);
        this.#setPathway(session, reported);
      }
    } else {
      this.#session(sessionId, assembly);
      if (reported !== undefined && reported !== session.pathway && byId.has(reported)) {
        // hls.js moves off the pathway it was told to use only when that pathway failed it.
        if (session.pathway !== undefined) session.left.set(session.pathway, now);
        this.#setPathway(session, reported);
      }
    }
    for (const [pathway, at] of session.left) {
      if (now - at > PLAYER_PENALTY_MS) session.left.delete(pathway);
    }
    const loads = this.#place(session, snapshot);
    const current = session.pathway;
    const rank = (edge: EdgeView): number => {
      if (edge.id === current) return 0;
      if (!edge.healthy) return 4;
      if (session.left.has(edge.id)) return 3;
      return edge.state === 'active' ? 1 : 2;
    };
    // Fallbacks by load, give or take a viewer or two that differ from session to session: the
    // viewers of an edge that dies then spread over the others instead of all taking the same
    // next one.
    const fallbackLoad = (edge: EdgeView): number =>
      (loads.get(edge.id) ?? 0) + 2 * spreadOf(session.id, edge.id);
    const priority = [...snapshot]
      .sort(
        (a, b) =>
          rank(a) - rank(b) ||
          fallbackLoad(a) - fallbackLoad(b) ||
          snapshot.indexOf(a) - snapshot.indexOf(b),
      )
      .map((edge) => edge.id);
    const cloneBase = [...session.known].find((id) => id !== '');
    const clones =
      cloneBase === undefined
        ? []
        : priority
            .filter((id) => !session.known.has(id))
            .map((id) => byId.get(id))
            .filter((edge): edge is EdgeView => edge !== undefined);
    return { priority, clones, cloneBase };
  }

  /**
   * Keeps the session on its edge when that edge may take viewers and is not clearly busier
   * than the least-loaded one; otherwise moves it there. Returns every edge's load.
   */
  #place(session: Session, snapshot: readonly EdgeView[]): Map<string, number> {
    const loads = this.#loads(snapshot);
    const eligible = snapshot.filter(
      (edge) => edge.state === 'active' && edge.healthy && !session.left.has(edge.id),
    );
    const currentEdge = snapshot.find((edge) => edge.id === session.pathway);
    const best = leastLoaded(eligible, loads);
    if (best === undefined) {
      // Nowhere good to go: stay if the edge still exists, else take the best of what is left.
      if (currentEdge === undefined) {
        const fallback =
          leastLoaded(
            snapshot.filter((edge) => edge.healthy),
            loads,
          ) ?? leastLoaded(listedEdges(snapshot), loads);
        if (fallback !== undefined) this.#setPathway(session, fallback.id, loads);
      }
      return loads;
    }
    const stays =
      currentEdge !== undefined &&
      eligible.includes(currentEdge) &&
      !this.#crowded(currentEdge, best, loads, eligible);
    if (!stays && best.id !== session.pathway) this.#setPathway(session, best.id, loads);
    return loads;
  }

  /** The session's edge carries enough more viewers than `best` that one should move. */
  #crowded(
    current: EdgeView,
    best: EdgeView,
    loads: Map<string, number>,
    eligible: readonly EdgeView[],
  ): boolean {
    const difference = (loads.get(current.id) ?? 0) - (loads.get(best.id) ?? 0);
    const mean =
      eligible.reduce((sum, edge) => sum + (loads.get(edge.id) ?? 0), 0) / eligible.length;
    // Moving one viewer narrows the gap by two: a gap of one would only flip it back and forth.
    return difference >= 2 && difference > 0.1 * mean;
  }

  /**
   * Each edge's load in viewers: the sessions counted on it, plus viewers this server did not
   * send there (other app servers, sessions lost in a restart) when its reported connections
   * clearly exceed what its sessions explain. A player holds one or two connections, so the
   * connections-per-session ratio is estimated from the edges themselves (the median, so that
   * one busy edge does not set it), and a wide margin (five, plus half the sessions) keeps the
   * noise of connection counts (keep-alive pools come and go) from moving anyone.
   */
  #loads(snapshot: readonly EdgeView[]): Map<string, number> {
    const ratios = snapshot
      .filter((edge) => edge.httpConnections !== undefined && this.#count(edge.id) >= 5)
      .map((edge) => (edge.httpConnections ?? 0) / this.#count(edge.id))
      .sort((a, b) => a - b);
    const middle = ratios[Math.floor(ratios.length / 2)];
    const perViewer = Math.min(8, Math.max(1, middle ?? 1));
    const loads = new Map<string, number>();
    for (const edge of snapshot) {
      const assigned = this.#count(edge.id);
      const reported = edge.httpConnections;
      const unexplained =
        reported === undefined
          ? 0
          : Math.max(0, reported / perViewer - assigned - (5 + 0.5 * assigned));
      loads.set(edge.id, assigned + unexplained);
    }
    return loads;
  }

  #count(edge: string): number {
    return this.#assigned.get(edge) ?? 0;
  }

  #setPathway(session: Session, pathway: string, loads?: Map<string, number>): void {
    if (session.pathway === pathway) return;
    if (session.pathway !== undefined) {
      this.#assigned.set(session.pathway, this.#count(session.pathway) - 1);
      loads?.set(session.pathway, (loads.get(session.pathway) ?? 1) - 1);
    }
    session.pathway = pathway;
    this.#assigned.set(pathway, this.#count(pathway) + 1);
    loads?.set(pathway, (loads.get(pathway) ?? 0) + 1);
  }

  /** The session with this id, created if unknown, and marked as seen now. */
  #session(id: SteeringSessionId, assembly: string): Session {
    let session = this.#sessions.get(id);
    if (session !== undefined && session.assembly !== assembly) {
      throw new InvalidArgumentError('the steering session belongs to another assembly');
    }
    if (session === undefined) {
      session = {
        id,
        assembly,
        pathway: undefined,
        known: new Set(),
        lastSeen: 0,
        left: new Map(),
      };
    }
    // Re-inserted at the end: the map stays ordered by last use.
    this.#sessions.delete(id);
    this.#sessions.set(id, session);
    session.lastSeen = this.#now();
    return session;
  }

  /** Forgets sessions that stopped asking (and the oldest beyond the cap), oldest first. */
  #expire(): void {
    const oldest = this.#now() - this.#expiryMs;
    for (const session of this.#sessions.values()) {
      if (session.lastSeen >= oldest && this.#sessions.size <= this.#maxSessions) break;
      this.#sessions.delete(session.id);
      if (session.pathway !== undefined) {
        this.#assigned.set(session.pathway, this.#count(session.pathway) - 1);
      }
    }
  }
}

/**
 * The edges a multivariant playlist lists: the active ones (healthy or not: a probe may be
 * wrong, and the steering manifest ranks them last), or the draining ones when none is active.
 */
function listedEdges(snapshot: readonly EdgeView[]): EdgeView[] {
  const active = snapshot.filter((edge) => edge.state === 'active');
  return active.length > 0 ? active : [...snapshot];
}

function leastLoaded(edges: readonly EdgeView[], loads: Map<string, number>): EdgeView | undefined {
  let best: EdgeView | undefined;
  for (const edge of edges) {
    if (best === undefined || (loads.get(edge.id) ?? 0) < (loads.get(best.id) ?? 0)) best = edge;
  }
  return best;
}

/** A number in [0, 1) fixed for a session and an edge (FNV-1a of both ids). */
function spreadOf(session: string, edge: string): number {
  let hash = 0x811c9dc5;
  for (const text of [session, '/', edge]) {
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
  }
  return hash / 2 ** 32;
}

function firstOf(edges: readonly EdgeView[]): string {
  const first = edges[0];
  if (first === undefined) throw new Error('no edge');
  return first.id;
}
