/**
 * The edge fleet, operated at run time: the edges that serve HLS to viewers, persisted in SQLite
 * (`EdgeStore`), probed in the background (one `EdgeMonitor` per edge), added, drained,
 * activated and removed by operators (REST, the operator page, the edge CLI), every change in
 * the audit log.
 *
 * - MONTAGE_EDGES seeds the table on the first start only; afterwards the database is the
 *   truth, and a changed MONTAGE_EDGES is ignored with a warning that says so.
 * - The local edge (`npm start`'s nginx, `LOCAL_EDGE_ID`) is registered by server/delivery.ts
 *   with `addLocal` and is not persisted: it exists exactly while this app server runs it, on
 *   ports that come from the configuration of each start, so a stored row could only go stale.
 *   It can be drained (until the next start), not removed.
 * - `pick()` hands a viewer the least-loaded healthy active edge from the cached probes (no
 *   request waits on a probe); draining edges get no new viewers.
 *
 * Other parts react to the events: delivery makes the origin push to added edges and stop
 * pushing to removed ones, HLS content steering reads `snapshot()` (`EdgeFleetView`).
 */
import { EventEmitter } from 'node:events';
import {
  BASE_URL,
  EDGE_ID,
  INGEST_URL,
  isLoopback,
  LOCAL_EDGE_ID,
  parseBaseUrl,
  parseIngestUrl,
  type ConfiguredEdge,
} from '../config.js';
import { InvalidArgumentError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { EdgeStore, StoredEdge } from '../store/EdgeStore.js';
import { EdgeMonitor, type EdgeStatus } from './EdgeMonitor.js';
import { EdgeConflictError, EdgeNotFoundError, LocalEdgeError } from './errors.js';
import type { EdgeFleetView, EdgeState, EdgeView } from './EdgeView.js';
import { PROBED_PLAYLIST, UNSIGNED_HLS_PATH, type HlsPath } from './probeEdge.js';

/** An edge as registered: where it is and whether it takes new viewers. */
export interface EdgeRecord extends StoredEdge {
  /** The edge this app server runs itself (`npm start`): not persisted, not removable. */
  local: boolean;
}

/** An edge with its live status, as `GET /api/edges` and the operator page show it. */
export interface EdgeDetails extends EdgeRecord {
  status: EdgeStatus;
}

/** What an operator gives to register an edge; checked like a MONTAGE_EDGES entry. */
export interface NewEdge {
  /** 1 to 64 of A-Z a-z 0-9 . _ -; derived from the public URL's host when absent. */
  id?: string | undefined;
  publicUrl: string;
  ingestUrl: string;
  /** Where the app server probes; the public URL when absent. */
  statusUrl?: string | undefined;
}

/** The local edge's URLs, as delivery knows them once its nginx runs. */
export interface LocalEdge {
  publicUrl: string;
  ingestUrl: string;
  statusUrl: string;
}

export interface EdgeChoice {
  edge: EdgeView;
  /** The playlist a viewer loads on that edge. */
  playlistUrl: string;
  /** False when no active edge is healthy and this one is handed out anyway. */
  healthy: boolean;
}

/** How edges are probed. */
export interface ProbeSettings {
  intervalMs: number;
  /** Each probe's deadline; well under the interval, so that probes never pile up. */
  timeoutMs: number;
  /** Failed probes in a row after which an edge is unhealthy. */
  failuresToUnhealthy: number;
  /** How long a live stream may be missing or still on an edge before it counts. */
  streamGraceMs: number;
}

/**
 * A probe every 2 s with a 1 s deadline; three failures in a row (about 4 to 6 s) make an edge
 * unhealthy. An edge that is down refuses at once, so it is found within that; one that is slow
 * only because this machine is overloaded (its timers fire late) rarely misses three deadlines
 * in a row, so viewers are not moved away from a working edge for it.
 */
export const DEFAULT_PROBE_SETTINGS: ProbeSettings = {
  intervalMs: 2000,
  timeoutMs: 1000,
  failuresToUnhealthy: 3,
  streamGraceMs: 10_000,
};

export interface EdgeRegistryOptions {
  store: EdgeStore;
  audit: AuditLog;
  logger: Logger;
  /** MONTAGE_EDGES: seeds the table when it has never been seeded (the first start). */
  seed?: readonly ConfiguredEdge[];
  /** The streams live on the origin, which every edge must serve (none by default). */
  liveStreams?: () => readonly string[];
  /** The origin's RTMP port: an edge whose ingest is the origin itself on loopback is refused. */
  originRtmpPort?: number;
  probe?: Partial<ProbeSettings>;
  /** Signs the paths of the playlists the probes read (server/hls/HlsSigner.ts). */
  hlsPath?: HlsPath;
}

export interface EdgeRegistryEvents {
  /** An edge was registered (REST, the CLI, the seed, or the local edge). */
  added: [edge: EdgeRecord];
  /** An edge was removed (or the local edge stopped). */
  removed: [edge: EdgeRecord];
  /** An edge became healthy or unhealthy. */
  health: [edge: EdgeDetails];
  /**
   * Anything `list()` or `snapshot()` shows changed: an edge added, removed, drained or
   * activated, or a probe finished.
   */
  changed: [];
}

interface Entry {
  record: EdgeRecord;
  monitor: EdgeMonitor;
  /** Viewers handed this edge since its last probe, which cannot have counted them yet. */
  handedOut: number;
  healthy: boolean;
}

/** The audit log's details of an edge change. */
function auditDetails(record: EdgeRecord): Record<string, unknown> {
  return {
    edge: record.id,
    publicUrl: record.publicUrl,
    ingestUrl: record.ingestUrl,
    statusUrl: record.statusUrl,
    state: record.state,
  };
}

export class EdgeRegistry extends EventEmitter<EdgeRegistryEvents> implements EdgeFleetView {
  readonly #store: EdgeStore;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #liveStreams: () => readonly string[];
  readonly #originRtmpPort: number | undefined;
  readonly #probe: ProbeSettings;
  readonly #hlsPath: HlsPath | undefined;
  /** In registration order (a Map keeps insertion order). */
  readonly #entries = new Map<string, Entry>();
  #probing = false;

  constructor(options: EdgeRegistryOptions) {
    super();
    this.#store = options.store;
    this.#audit = options.audit;
    this.#log = options.logger;
    this.#liveStreams = options.liveStreams ?? (() => []);
    this.#originRtmpPort = options.originRtmpPort;
    this.#probe = { ...DEFAULT_PROBE_SETTINGS, ...options.probe };
    this.#hlsPath = options.hlsPath;
    this.#seed(options.seed ?? []);
    for (const stored of this.#store.list()) this.#insert({ ...stored, local: false });
  }

  /** Starts probing every edge (and each edge added later) in the background. */
  start(): void {
    if (this.#probing) return;
    this.#probing = true;
    for (const entry of this.#entries.values()) entry.monitor.start();
  }

  /** Stops probing; resolves once probes under way were aborted. Safe to call twice. */
  async stop(): Promise<void> {
    this.#probing = false;
    await Promise.all([...this.#entries.values()].map((entry) => entry.monitor.stop()));
  }

  /** Every edge with its status, in registration order. */
  list(): EdgeDetails[] {
    return [...this.#entries.values()].map((entry) => this.#details(entry));
  }

  find(id: string): EdgeDetails | undefined {
    const entry = this.#entries.get(id);
    return entry === undefined ? undefined : this.#details(entry);
  }

  get(id: string): EdgeDetails {
    return this.#details(this.#entry(id));
  }

  snapshot(): EdgeView[] {
    return [...this.#entries.values()].map(({ record, monitor }) => ({
      id: record.id,
      publicUrl: record.publicUrl,
      state: record.state,
      healthy: monitor.status.healthy,
      httpConnections: monitor.status.httpConnections,
    }));
  }

  /**
   * The edge for a new viewer of `stream`: the healthy active edge with the fewest HTTP
   * connections (counting viewers handed out since its last probe, so that a crowd arriving
   * between two probes spreads over the edges instead of all landing on the same one). When no
   * active edge is healthy, the first active edge, marked unhealthy; undefined when no edge is
   * active. Answers from the cached probes: no request waits on an edge.
   */
  pick(stream: string): EdgeChoice | undefined {
    const active = [...this.#entries.values()].filter((entry) => entry.record.state === 'active');
    const load = (entry: Entry): number =>
      (entry.monitor.status.httpConnections ?? 0) + entry.handedOut;
    const healthy = active
      .filter((entry) => entry.monitor.status.healthy)
      .sort((a, b) => load(a) - load(b));
    const chosen = healthy[0] ?? active[0];
    if (chosen === undefined) return undefined;
    chosen.handedOut += 1;
    const view = this.snapshot().find((edge) => edge.id === chosen.record.id);
    if (view === undefined) return undefined;
    return {
      edge: view,
      playlistUrl: `${chosen.record.publicUrl}${(this.#hlsPath ?? UNSIGNED_HLS_PATH)(stream, PROBED_PLAYLIST)}`,
      healthy: healthy.length > 0,
    };
  }

  /**
   * Registers an edge an operator runs elsewhere: checked like a MONTAGE_EDGES entry
   * (InvalidArgumentError), unique in id, public URL and ingest URL (EdgeConflictError),
   * stored, audited, probed at once; the origin starts pushing to it on `added`.
   */
  add(actor: string, input: NewEdge): EdgeDetails {
    const record = this.#check(input);
    this.#store.insert(record);
    const entry = this.#insert(record);
    this.#audit.record(actor, 'edge.add', undefined, auditDetails(record));
    this.#log.info('edge added', { actor, ...auditDetails(record) });
    this.emit('added', record);
    this.emit('changed');
    return this.#details(entry);
  }

  /** Registers the local edge (server/delivery.ts, once its nginx runs); not persisted. */
  addLocal(edge: LocalEdge): EdgeDetails {
    const now = new Date().toISOString();
    const record: EdgeRecord = {
      id: LOCAL_EDGE_ID,
      publicUrl: edge.publicUrl.replace(/\/+$/, ''),
      ingestUrl: edge.ingestUrl.replace(/\/+$/, ''),
      statusUrl: edge.statusUrl.replace(/\/+$/, ''),
      state: 'active',
      local: true,
      createdBy: 'app',
      createdAt: now,
      updatedAt: now,
    };
    this.removeLocal();
    this.#checkUnique(record);
    const entry = this.#insert(record);
    this.#log.info('local edge registered', auditDetails(record));
    this.emit('added', record);
    this.emit('changed');
    return this.#details(entry);
  }

  /** Unregisters the local edge (delivery stopped it); nothing when there is none. */
  removeLocal(): void {
    const entry = this.#entries.get(LOCAL_EDGE_ID);
    if (entry === undefined) return;
    this.#delete(entry);
  }

  /** No new viewers for this edge; its viewers move at their next steering reload. */
  drain(actor: string, id: string): EdgeDetails {
    return this.#setState(actor, id, 'draining');
  }

  /** Takes new viewers again. */
  activate(actor: string, id: string): EdgeDetails {
    return this.#setState(actor, id, 'active');
  }

  /**
   * Removes an edge: the origin stops pushing to it on `removed`, viewers are no longer sent
   * there. The local edge cannot be removed (LocalEdgeError): it is part of this app server.
   */
  remove(actor: string, id: string): EdgeRecord {
    const entry = this.#entry(id);
    if (entry.record.local) {
      throw new LocalEdgeError(
        `edge '${id}' is the local edge, which this app server runs itself ` +
          '(MONTAGE_LOCAL_EDGE=true) and which exists exactly while it runs: drain it to send ' +
          'new viewers elsewhere, or set MONTAGE_LOCAL_EDGE=false and restart to do without it',
      );
    }
    this.#store.delete(id);
    this.#delete(entry);
    this.#audit.record(actor, 'edge.remove', undefined, auditDetails(entry.record));
    this.#log.info('edge removed', { actor, ...auditDetails(entry.record) });
    return entry.record;
  }

  /**
   * The edges' part of /healthz: one check per edge (`ok`, `failing: <why>`, `starting: ...`,
   * with `, draining` when it is), and `ok` false when edges exist but no active one serves
   * (viewers cannot watch). A single failing edge fails its own check only: the others serve.
   */
  health(): { serving: boolean; parts: Record<string, { ok: boolean; detail: string }> } {
    const parts: Record<string, { ok: boolean; detail: string }> = {};
    let serving = false;
    for (const { record, monitor } of this.#entries.values()) {
      const status = monitor.status;
      const draining = record.state === 'draining' ? ', draining' : '';
      let part: { ok: boolean; detail: string };
      if (status.probedAt === undefined) {
        part = { ok: false, detail: 'starting: not probed yet' };
        if (record.state === 'active') serving = true;
      } else if (status.healthy) {
        part = { ok: true, detail: 'ok' };
        if (record.state === 'active') serving = true;
      } else {
        part = {
          ok: false,
          detail: `failing: ${status.error ?? status.lastError?.message ?? 'unknown'}`,
        };
      }
      parts[`edge:${record.id}`] = { ok: part.ok, detail: `${part.detail}${draining}` };
    }
    return { serving: this.#entries.size === 0 || serving, parts };
  }

  #seed(configured: readonly ConfiguredEdge[]): void {
    const value = JSON.stringify(configured);
    const seed = this.#store.seed();
    if (seed !== undefined) {
      if (seed.edges !== value) {
        this.#log.warn(
          'MONTAGE_EDGES differs from the value that seeded the edges on the first start and is ' +
            'ignored: the database is the truth now. Add, drain and remove edges on the ' +
            'operator page (/operator) or with /api/edges',
          { seededAt: seed.seededAt, seeded: seed.edges, configured: value },
        );
      }
      return;
    }
    const now = new Date().toISOString();
    const records = configured.map((edge): StoredEdge => ({
      id: edge.id,
      publicUrl: edge.publicUrl,
      ingestUrl: edge.ingestUrl,
      statusUrl: edge.statusUrl,
      state: 'active',
      createdBy: 'config',
      createdAt: now,
      updatedAt: now,
    }));
    if (!this.#store.seedOnce(records, { seededAt: now, edges: value })) return;
    for (const record of records) {
      this.#audit.record(
        'config',
        'edge.add',
        undefined,
        auditDetails({ ...record, local: false }),
      );
    }
    if (records.length > 0) {
      this.#log.info('MONTAGE_EDGES seeded the edge table (first start)', {
        edges: records.map((record) => record.id),
      });
    }
  }

  /** Checks an operator's edge; returns it ready to store. */
  #check(input: NewEdge): EdgeRecord {
    const given = (value: string): string => `'${value.slice(0, 200)}'`;
    const publicUrl = parseBaseUrl(input.publicUrl);
    if (publicUrl === undefined) {
      throw new InvalidArgumentError(
        `publicUrl must be ${BASE_URL} (got ${given(input.publicUrl)})`,
      );
    }
    const ingestUrl = parseIngestUrl(input.ingestUrl);
    if (ingestUrl === undefined) {
      throw new InvalidArgumentError(
        `ingestUrl must be ${INGEST_URL} (got ${given(input.ingestUrl)})`,
      );
    }
    let statusUrl = publicUrl;
    if (input.statusUrl !== undefined) {
      const parsed = parseBaseUrl(input.statusUrl);
      if (parsed === undefined) {
        throw new InvalidArgumentError(
          `statusUrl must be ${BASE_URL} (got ${given(input.statusUrl)})`,
        );
      }
      statusUrl = parsed;
    }
    const ingest = new URL(ingestUrl);
    if (isLoopback(ingest.hostname) && Number(ingest.port) === this.#originRtmpPort) {
      throw new InvalidArgumentError(
        `ingestUrl ${ingestUrl} is the origin itself (MONTAGE_RTMP_PORT=${this.#originRtmpPort}); ` +
          "expected the edge's RTMP port",
      );
    }
    const id = input.id ?? new URL(publicUrl).host.replace(/:/g, '-');
    if (!EDGE_ID.test(id)) {
      throw new InvalidArgumentError(
        input.id === undefined
          ? `no id was given and the public URL's host does not make one: give an id of 1 to 64 of A-Z a-z 0-9 . _ -`
          : `id must be 1 to 64 of A-Z a-z 0-9 . _ - (got ${given(id)})`,
      );
    }
    if (id === LOCAL_EDGE_ID) {
      throw new InvalidArgumentError(
        `id '${LOCAL_EDGE_ID}' is the local edge's (MONTAGE_LOCAL_EDGE); choose another`,
      );
    }
    const now = new Date().toISOString();
    const record: EdgeRecord = {
      id,
      publicUrl,
      ingestUrl,
      statusUrl,
      state: 'active',
      local: false,
      createdBy: 'operator',
      createdAt: now,
      updatedAt: now,
    };
    this.#checkUnique(record);
    return record;
  }

  /**
   * Two registrations of one edge would make the origin push each stream to it twice (nginx-rtmp
   * refuses the second publish, which then retries forever) and the registry balance a URL with
   * itself.
   */
  #checkUnique(record: EdgeRecord): void {
    for (const [field, what] of [
      ['id', 'id'],
      ['publicUrl', 'public URL'],
      ['ingestUrl', 'ingest URL'],
    ] as const) {
      const twin = [...this.#entries.values()].find(
        (entry) => entry.record[field] === record[field],
      );
      if (twin !== undefined) {
        throw new EdgeConflictError(
          `edge '${twin.record.id}' already has the ${what} ${record[field]}; ` +
            (field === 'id' ? 'choose another id' : 'each edge is registered once'),
        );
      }
    }
  }

  #setState(actor: string, id: string, state: EdgeState): EdgeDetails {
    const entry = this.#entry(id);
    if (entry.record.state === state) return this.#details(entry);
    const updatedAt = new Date().toISOString();
    if (!entry.record.local) this.#store.setState(id, state, updatedAt);
    entry.record = { ...entry.record, state, updatedAt };
    const action = state === 'draining' ? 'edge.drain' : 'edge.activate';
    this.#audit.record(actor, action, undefined, auditDetails(entry.record));
    this.#log.info(state === 'draining' ? 'edge draining' : 'edge active again', {
      actor,
      edge: id,
    });
    this.emit('changed');
    return this.#details(entry);
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new EdgeNotFoundError(id);
    return entry;
  }

  #insert(record: EdgeRecord): Entry {
    const monitor = new EdgeMonitor({
      statusUrl: record.statusUrl,
      liveStreams: this.#liveStreams,
      hlsPath: this.#hlsPath,
      ...this.#probe,
    });
    const entry: Entry = { record, monitor, handedOut: 0, healthy: false };
    monitor.on('probed', (status) => {
      // The probe counted the connections of the viewers handed out before it.
      entry.handedOut = 0;
      if (status.healthy !== entry.healthy) {
        entry.healthy = status.healthy;
        if (status.healthy) {
          this.#log.info('edge healthy', { edge: record.id });
        } else {
          this.#log.warn('edge unhealthy', { edge: record.id, error: status.error });
        }
        this.emit('health', this.#details(entry));
      }
      this.emit('changed');
    });
    this.#entries.set(record.id, entry);
    if (this.#probing) monitor.start();
    return entry;
  }

  #delete(entry: Entry): void {
    this.#entries.delete(entry.record.id);
    void entry.monitor.stop();
    entry.monitor.removeAllListeners();
    this.emit('removed', entry.record);
    this.emit('changed');
  }

  #details(entry: Entry): EdgeDetails {
    return { ...entry.record, status: entry.monitor.status };
  }
}
