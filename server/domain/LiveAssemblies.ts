/**
 * What is happening in each assembly right now: who is connected in which role, and what the
 * program shows. Kept in memory (it is rebuilt when people reconnect). The media part will hang
 * the Kurento objects of an assembly (pipeline, composite, dispatcher) off `LiveAssembly`; the
 * signaling layer only calls these methods and forwards their events.
 */
import { EventEmitter } from 'node:events';
import type { Role } from '../auth/roles.js';
import type { MetricsRegistry } from '../metrics/MetricsRegistry.js';
import { InvalidArgumentError } from './errors.js';
import {
  newCameraId,
  newParticipantId,
  newViewerId,
  type AssemblyId,
  type CameraId,
  type ParticipantId,
  type ViewerId,
} from './ids.js';

export interface Participant {
  id: ParticipantId;
  role: Role;
  /** Set for cameras: the id their tile and program cuts use. */
  cameraId: CameraId | undefined;
  viewerId: ViewerId | undefined;
  joinedAt: string;
}

export type ProgramSource =
  { kind: 'composite' } | { kind: 'camera'; cameraId: CameraId } | { kind: 'video'; uri: string };

/** The `source` label of montage_program_source. */
export function sourceLabel(source: ProgramSource): string {
  switch (source.kind) {
    case 'composite':
      return 'composite';
    case 'camera':
      return `camera:${source.cameraId}`;
    case 'video':
      return 'video';
  }
}

export interface LiveAssemblyEvents {
  joined: [participant: Participant];
  left: [participant: Participant];
  programChanged: [source: ProgramSource];
}

export class LiveAssembly extends EventEmitter<LiveAssemblyEvents> {
  readonly id: AssemblyId;
  readonly #participants = new Map<ParticipantId, Participant>();
  readonly #metrics: MetricsRegistry;
  #program: ProgramSource = { kind: 'composite' };

  constructor(id: AssemblyId, metrics: MetricsRegistry) {
    super();
    this.id = id;
    this.#metrics = metrics;
    this.#updateCounts();
    this.#updateProgramMetric();
  }

  get program(): ProgramSource {
    return this.#program;
  }

  get participants(): Participant[] {
    return [...this.#participants.values()];
  }

  get isEmpty(): boolean {
    return this.#participants.size === 0;
  }

  join(role: Role): Participant {
    const participant: Participant = {
      id: newParticipantId(),
      role,
      cameraId: role === 'camera' ? newCameraId() : undefined,
      viewerId: role === 'viewer' ? newViewerId() : undefined,
      joinedAt: new Date().toISOString(),
    };
    this.#participants.set(participant.id, participant);
    this.#updateCounts();
    this.emit('joined', participant);
    return participant;
  }

  leave(id: ParticipantId): void {
    const participant = this.#participants.get(id);
    if (participant === undefined) return;
    this.#participants.delete(id);
    this.#updateCounts();
    this.emit('left', participant);
    // A camera that was on the program leaves it: the program goes back to the composite.
    if (this.#program.kind === 'camera' && this.#program.cameraId === participant.cameraId) {
      this.cutTo({ kind: 'composite' });
    }
  }

  /** Cuts the program; a camera must be connected (InvalidArgumentError otherwise). */
  cutTo(source: ProgramSource): void {
    if (source.kind === 'camera') {
      const connected = this.participants.some((p) => p.cameraId === source.cameraId);
      if (!connected) {
        throw new InvalidArgumentError(
          `camera '${source.cameraId}' is not connected to this assembly`,
        );
      }
    }
    this.#program = source;
    this.#updateProgramMetric();
    this.emit('programChanged', source);
  }

  /** Forgets this assembly's metrics series (the assembly was deleted or emptied). */
  close(): void {
    this.#metrics.cameras.remove({ assembly: this.id });
    this.#metrics.viewers.remove({ assembly: this.id });
    this.#metrics.programSource.removeMatching({ assembly: this.id });
    this.removeAllListeners();
  }

  #updateCounts(): void {
    const count = (role: Role): number => this.participants.filter((p) => p.role === role).length;
    this.#metrics.cameras.set(count('camera'), { assembly: this.id });
    this.#metrics.viewers.set(count('viewer'), { assembly: this.id });
  }

  #updateProgramMetric(): void {
    this.#metrics.programSource.removeMatching({ assembly: this.id });
    this.#metrics.programSource.set(1, { assembly: this.id, source: sourceLabel(this.#program) });
  }
}

/** The live assemblies of this server, created when the first participant arrives. */
export class LiveAssemblies {
  readonly #live = new Map<AssemblyId, LiveAssembly>();
  readonly #metrics: MetricsRegistry;

  constructor(metrics: MetricsRegistry) {
    this.#metrics = metrics;
  }

  find(id: AssemblyId): LiveAssembly | undefined {
    return this.#live.get(id);
  }

  /** The live assembly `id`, created if nobody was connected yet. */
  open(id: AssemblyId): LiveAssembly {
    let live = this.#live.get(id);
    if (live === undefined) {
      live = new LiveAssembly(id, this.#metrics);
      this.#live.set(id, live);
    }
    return live;
  }

  /** Ends a live assembly (deleted, or its last participant left). */
  close(id: AssemblyId): void {
    this.#live.get(id)?.close();
    this.#live.delete(id);
  }

  closeAll(): void {
    for (const id of [...this.#live.keys()]) this.close(id);
  }
}
