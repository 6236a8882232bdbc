/**
 * The program as the pages describe it, and the cameras known from presence: shared by the
 * studio (which cuts) and the panel (which manages cameras).
 */
import type {
  ParticipantWire,
  PictureWire,
  ProgramWire,
} from '../../../server/signaling/events.js';

/** The library name (or URL) of the injected video on the program; '' for other sources. */
export function videoOf(program: ProgramWire): string {
  return program.kind === 'video' ? program.name : '';
}

/** A camera as every page shows it: the server's name, place, mute and picture state. */
export interface RosterCamera {
  cameraId: string;
  participantId: string;
  label: string;
  slot: number;
  muted: boolean;
  picture: PictureWire;
}

/**
 * The cameras connected to the assembly, in their server-given order (the grid's order when
 * every camera is shown). Names, places, mutes and picture states are the server's
 * (ParticipantWire), so every panel and studio shows the same, after a reload too.
 */
export class CameraRoster {
  readonly #cameras = new Map<string, RosterCamera>();

  /** Replaces the roster with the cameras among `participants`. */
  reset(participants: readonly ParticipantWire[]): void {
    this.#cameras.clear();
    for (const participant of participants) this.add(participant);
  }

  /** Adds or updates a camera (participant:joined, participant:updated). */
  add(participant: ParticipantWire): void {
    const cameraId = participant.cameraId;
    if (participant.role !== 'camera' || cameraId === undefined) return;
    // A server from before server-side names sends none: number them as they come.
    const slot = participant.slot ?? this.#cameras.size + 1;
    this.#cameras.set(cameraId, {
      cameraId,
      participantId: participant.id,
      label: participant.name ?? `Camera ${slot}`,
      slot,
      muted: participant.muted === true,
      picture: participant.picture ?? 'live',
    });
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

  get(cameraId: string): RosterCamera | undefined {
    return this.#cameras.get(cameraId);
  }

  /** The cameras in their places (slot order). */
  get list(): RosterCamera[] {
    return [...this.#cameras.values()].sort((a, b) => a.slot - b.slot);
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
