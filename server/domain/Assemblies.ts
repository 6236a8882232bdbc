/**
 * Assemblies as moderators and operators manage them: create, change, delete, each recorded in
 * the audit log and reflected in the metrics. The edge (REST routes, the token CLI) calls this
 * class; live state (who is connected, what is on the program) is in `LiveAssemblies`.
 */
import { EventEmitter } from 'node:events';
import type { MetricsRegistry } from '../metrics/MetricsRegistry.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Assembly, AssemblySettings, AssemblyStore } from '../store/AssemblyStore.js';
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

  constructor(store: AssemblyStore, audit: AuditLog, metrics: MetricsRegistry) {
    super();
    this.#store = store;
    this.#audit = audit;
    this.#metrics = metrics;
    this.#metrics.assemblies.set(store.count());
  }

  create(
    actor: Actor,
    settings: Pick<AssemblySettings, 'name'> & Partial<AssemblySettings>,
  ): Assembly {
    const assembly = this.#store.create({ ...DEFAULT_SETTINGS, ...settings });
    this.#audit.record(actor, 'assembly.create', assembly.id, { name: assembly.name });
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

  update(actor: Actor, id: AssemblyId, changes: Partial<AssemblySettings>): Assembly {
    const assembly = this.#store.update(id, changes);
    this.#audit.record(actor, 'assembly.update', id, changes);
    this.emit('updated', assembly);
    return assembly;
  }

  delete(actor: Actor, id: AssemblyId): void {
    this.#store.delete(id);
    this.#audit.record(actor, 'assembly.delete', id);
    this.#metrics.assemblies.set(this.#store.count());
    this.emit('deleted', id);
  }
}
