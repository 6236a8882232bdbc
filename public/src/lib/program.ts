/**
 * The program as the pages describe it, and the cameras known from presence: shared by the
 * studio (which cuts) and the panel (which manages cameras).
 */
import type { ParticipantWire, ProgramWire } from '../../../server/signaling/events.js';

/** The library name (or URL) of the injected video on the program; '' for other sources. */
export function videoOf(program: ProgramWire): string {
  return program.kind === 'video' ? program.name : '';
}

/** The cameras in the assembly, in the order they joined, each with a stable label. */
export class CameraRoster {
  readonly #cameras = new Map<string, { participantId: string; label: string }>();
  /** Every label given out, so a camera that reconnects with its camera id keeps its name. */
  readonly #labels = new Map<string, string>();
  #next = 1;

  /** Replaces the roster with the cameras among `participants` (keeping known labels). */
  reset(participants: readonly ParticipantWire[]): void {
    const known = new Map(this.#cameras);
    this.#cameras.clear();
    for (const participant of participants) this.add(participant, known);
  }

  add(participant: ParticipantWire, known?: Map<string, { label: string }>): void {
    const cameraId = participant.cameraId;
    if (participant.role !== 'camera' || cameraId === undefined) return;
    const label =
      known?.get(cameraId)?.label ?? this.#labels.get(cameraId) ?? `Camera ${this.#next++}`;
    this.#labels.set(cameraId, label);
    this.#cameras.set(cameraId, { participantId: participant.id, label });
  }

  /** Removes the camera of participant `participantId`; true if it was one. */
  removeParticipant(participantId: string): boolean {
    for (const [cameraId, camera] of this.#cameras) {
      if (camera.participantId === participantId) {
        this.#cameras.delete(cameraId);
        return true;
      }
    }
    return false;
  }

  label(cameraId: string): string {
    return this.#cameras.get(cameraId)?.label ?? `Camera ${cameraId.slice(-4)}`;
  }

  get list(): { cameraId: string; label: string }[] {
    return [...this.#cameras].map(([cameraId, { label }]) => ({ cameraId, label }));
  }
}

export function describeProgram(program: ProgramWire, roster: CameraRoster): string {
  switch (program.kind) {
    case 'composite':
      return 'All cameras (composite)';
    case 'camera':
      return roster.label(program.cameraId);
    case 'video':
      return `Video: ${videoOf(program)}`;
  }
}
