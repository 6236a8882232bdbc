import os from 'node:os';
import { KurentoError } from '../rpc/KurentoError.js';
import { MediaObject, type Args, type ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';

/** What the ServerManager reports about the rest of the engine. */
export interface ServerState {
  pipelines(): MediaPipeline[];
  sessions(): string[];
  /** Factories per module, exactly what create accepts. */
  factoriesByModule(): Map<string, string[]>;
  metadata(): string;
}

export const SERVER_MANAGER_ID = 'manager_ServerManager';

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    idle += cpu.times.idle;
    total += cpu.times.idle + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  }
  return { idle, total };
}

/** Kurento's ServerManager (fixed id `manager_ServerManager`). */
export class ServerManager extends MediaObject {
  readonly #state: ServerState;
  readonly #generationTime = new Date().toUTCString();

  constructor(host: ObjectHost, state: ServerState) {
    super(host, 'ServerManager', SERVER_MANAGER_ID, undefined);
    this.#state = state;
  }

  override get mediaPipeline(): undefined {
    return undefined;
  }

  protected override getProperty(name: string): unknown {
    switch (name) {
      case 'info':
        return this.#info();
      case 'pipelines':
        return this.#state.pipelines().map((pipeline) => pipeline.id);
      case 'sessions':
        return this.#state.sessions();
      case 'metadata':
        return this.#state.metadata();
      default:
        return super.getProperty(name);
    }
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'getKmd': {
        const module = this.host.kmd.modules.find((m) => m.name === args.moduleName);
        if (!module) {
          throw new KurentoError(
            'SERVER_MANAGER_ERROR_KMD_NOT_FOUND',
            `Module '${String(args.moduleName)}' not found`,
          );
        }
        return module.text;
      }
      case 'getCpuCount':
        return os.availableParallelism();
      case 'getUsedCpu':
        return this.#usedCpu(Number(args.interval));
      case 'getUsedMemory':
        // KiB, like KMS; the engine's own resident memory.
        return Math.round(process.memoryUsage().rss / 1024);
      default:
        return super.callMethod(name, args);
    }
  }

  #info(): Args {
    const factories = this.#state.factoriesByModule();
    return {
      __module__: 'kurento',
      __type__: 'ServerInfo',
      version: this.host.kmd.modules[0]?.version ?? '7.2.0',
      type: 'KMS',
      capabilities: ['transactions'],
      modules: this.host.kmd.modules.map((module) => ({
        __module__: 'kurento',
        __type__: 'ModuleInfo',
        name: module.name,
        version: module.version,
        generationTime: this.#generationTime,
        factories: factories.get(module.name) ?? [],
      })),
    };
  }

  /** Percentage of all CPUs used during `interval` ms (capped so the client's 20 s timeout holds). */
  async #usedCpu(interval: number): Promise<number> {
    const wait = Math.min(Math.max(interval, 0), 10000);
    const before = cpuTimes();
    await new Promise<void>((resolve) => setTimeout(resolve, wait));
    const after = cpuTimes();
    const total = after.total - before.total;
    if (total <= 0) return 0;
    return (100 * (total - (after.idle - before.idle))) / total;
  }
}
