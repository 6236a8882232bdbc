/**
 * Assemblies as moderators and operators manage them: create, change, delete, each recorded in
 * the audit log and reflected in the metrics. The edge (REST routes, the token CLI) calls this
 * class; live state (who is connected, what is on the program) is in `LiveAssemblies`.
 */
import { EventEmitter } from 'node:events';
import type { MetricsRegistry } from '../metrics/MetricsRegistry.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Assembly, AssemblySettings, AssemblyStore, Phase } from '../store/AssemblyStore.js';
import { WrongPhaseError } from './errors.js';
import type { AssemblyId } from './ids.js';

/** Who acts, as written into the audit log: "moderator@<assembly>", "operator", "cli". */
export type Actor = string;

export const DEFAULT_SETTINGS: Omit<AssemblySettings, 'name'> = {
  layout: 'grid',
  maxTiles: 9,
  recording: false,
  dvrMinutes: 60,
};

/** Limits that requests are validated against. */
export const LIMITS = {
  nameLength: 100,
  maxTiles: 25,
  dvrMinutes: 24 * 60,
} as const;

/** An assembly as clients see it: everything but the secret stream key. */
export type AssemblyView = Omit<Assembly, 'streamKey'>;

export function toView(assembly: Assembly): AssemblyView {
  const { streamKey: _secret, ...view } = assembly;
  return view;
}

export interface AssembliesEvents {
  updated: [assembly: Assembly];
  deleted: [id: AssemblyId];
}

export class Assemblies extends EventEmitter<AssembliesEvents> {
  readonly #store: AssemblyStore;
  readonly #audit: AuditLog;
  readonly #metrics: MetricsRegistry;
  /** Throws when a recording may not start now (the recordings disk is nearly full). */
  #recordingGuard: (() => void) | undefined;

  constructor(store: AssemblyStore, audit: AuditLog, metrics: MetricsRegistry) {
    super();
    this.#store = store;
    this.#audit = audit;
    this.#metrics = metrics;
    this.#metrics.assemblies.set(store.count());
  }

  /** A new assembly, backstage unless `live` (see AssemblyStore.create). */
  create(
    actor: Actor,
    settings: Pick<AssemblySettings, 'name'> & Partial<AssemblySettings>,
    options: { live?: boolean } = {},
  ): Assembly {
    const assembly = this.#store.create({ ...DEFAULT_SETTINGS, ...settings }, options);
    this.#audit.record(actor, 'assembly.create', assembly.id, {
      name: assembly.name,
      phase: assembly.phase,
    });
    this.#metrics.assemblies.set(this.#store.count());
    return assembly;
  }

  list(): Assembly[] {
    return this.#store.list();
  }

  /** Throws AssemblyNotFoundError. */
  get(id: AssemblyId): Assembly {
    return this.#store.get(id);
  }

  find(id: AssemblyId): Assembly | undefined {
    return this.#store.find(id);
  }

  /** Checked whenever recording is turned on (server/domain/DiskSpace.ts's hard minimum). */
  setRecordingGuard(guard: () => void): void {
    this.#recordingGuard = guard;
  }

  update(actor: Actor, id: AssemblyId, changes: Partial<AssemblySettings>): Assembly {
    // Turning recording on is refused before anything is stored, so the setting never claims
    // a recording that cannot start.
    if (changes.recording === true && !this.#store.get(id).recording) this.#recordingGuard?.();
    const assembly = this.#store.update(id, changes);
    this.#audit.record(actor, 'assembly.update', id, changes);
    this.emit('updated', assembly);
    return assembly;
  }

  /**
   * A public event (operators only, checked by the route): the watch API then hands out signed
   * HLS URLs to anyone with the assembly's id. Audited; setting the same value again is a no-op.
   */
  setPublicWatch(actor: Actor, id: AssemblyId, publicWatch: boolean): Assembly {
    const assembly = this.#store.get(id);
    if (assembly.publicWatch === publicWatch) return assembly;
    const updated = this.#store.setPublicWatch(id, publicWatch);
    this.#audit.record(actor, 'assembly.public-watch', id, { publicWatch });
    this.emit('updated', updated);
    return updated;
  }

  /**
   * Backstage → live: the program starts reaching the audience (and the recording starts, when
   * it is on). Going live again is a no-op; an ended assembly cannot (WrongPhaseError).
   */
  goLive(actor: Actor, id: AssemblyId): Assembly {
    const assembly = this.#store.get(id);
    if (assembly.phase === 'live') return assembly;
    if (assembly.phase === 'ended') {
      throw new WrongPhaseError('this assembly has ended; create a new one to go live again');
    }
    return this.#setPhase(actor, assembly, 'live');
  }

  /** Backstage or live → ended, for good. Ending again is a no-op. */
  end(actor: Actor, id: AssemblyId): Assembly {
    const assembly = this.#store.get(id);
    if (assembly.phase === 'ended') return assembly;
    return this.#setPhase(actor, assembly, 'ended');
  }

  #setPhase(actor: Actor, assembly: Assembly, phase: Phase): Assembly {
    const updated = this.#store.setPhase(assembly.id, phase);
    this.#audit.record(actor, phase === 'live' ? 'assembly.live' : 'assembly.end', assembly.id, {
      from: assembly.phase,
    });
    this.emit('updated', updated);
    return updated;
  }

  delete(actor: Actor, id: AssemblyId): void {
    this.#store.delete(id);
    this.#audit.record(actor, 'assembly.delete', id);
    this.#metrics.assemblies.set(this.#store.count());
    this.emit('deleted', id);
  }
}
