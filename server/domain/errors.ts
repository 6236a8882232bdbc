/**
 * The domain's error classes. Each carries a stable `code` that the edge (HTTP routes, socket.io
 * handlers) turns into a wire error through one helper (`server/wire/errors.ts`); the domain
 * itself knows nothing about HTTP statuses.
 */

/** Base class of every error the domain throws on purpose. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** A value from outside (request body, socket message, CLI argument) is malformed. */
export class InvalidArgumentError extends DomainError {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** The assembly named by a request does not exist (or was deleted). */
export class AssemblyNotFoundError extends DomainError {
  readonly code = 'assembly_not_found';
  constructor(readonly assemblyId: string) {
    super(`assembly '${assemblyId}' does not exist`);
    this.name = 'AssemblyNotFoundError';
  }
}

/** The invite named by a request does not exist in that assembly. */
export class InviteNotFoundError extends DomainError {
  readonly code = 'invite_not_found';
  constructor(readonly inviteId: string) {
    super(`invite '${inviteId}' does not exist in this assembly`);
    this.name = 'InviteNotFoundError';
  }
}

/** The recording named by a request is not in that assembly's archive (or was deleted). */
export class RecordingNotFoundError extends DomainError {
  readonly code = 'recording_not_found';
  constructor(readonly recordingId: string) {
    super(`recording '${recordingId}' is not in this assembly's archive`);
    this.name = 'RecordingNotFoundError';
  }
}

/** A recording whose recorder still runs cannot be deleted (stop recording or End first). */
export class RecordingInProgressError extends DomainError {
  readonly code = 'recording_in_progress';
  constructor(readonly recordingId: string) {
    super(`recording '${recordingId}' is still being recorded; stop recording or End first`);
    this.name = 'RecordingInProgressError';
  }
}

/**
 * A camera page that a moderator removed tried to come back with the same camera key: refused
 * for as long as the server runs, so that reloading the page does not undo the removal.
 */
export class CameraRemovedError extends DomainError {
  readonly code = 'removed';
  constructor() {
    super('The moderator removed this camera from the assembly.');
    this.name = 'CameraRemovedError';
  }
}

/** Live media was asked for while no media server is connected (or the assembly's media failed). */
export class MediaUnavailableError extends DomainError {
  readonly code = 'media_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'MediaUnavailableError';
  }
}

/**
 * The media server answered a media change with an error (it refused the cut, could not start the
 * recording, its pipeline hung or died): the change did not happen, and the message says why.
 */
export class MediaRefusedError extends DomainError {
  readonly code = 'media_refused';
  constructor(what: string, reason: string) {
    super(`the media server refused ${what}: ${reason}`);
    this.name = 'MediaRefusedError';
  }
}

/**
 * A media change arrived after the assembly's media was released (the assembly closed or is being
 * rebuilt): nothing is left to change, so it is expected during shutdown, not a failure.
 */
export class MediaReleasedError extends MediaUnavailableError {
  constructor(assemblyId: string) {
    super(`the media of assembly ${assemblyId} was released`);
    this.name = 'MediaReleasedError';
  }
}

/** A request names something that is not (or no longer) part of the live assembly. */
export class NotLiveError extends DomainError {
  readonly code = 'not_live';
  constructor(message: string) {
    super(message);
    this.name = 'NotLiveError';
  }
}

/** A sender exceeded its rate (reactions); the request is dropped, not queued. */
export class RateLimitedError extends DomainError {
  readonly code = 'rate_limited';
  constructor(message: string) {
    super(message);
    this.name = 'RateLimitedError';
  }
}

/** An upload is larger than the server accepts. */
export class TooLargeError extends DomainError {
  readonly code = 'too_large';
  constructor(message: string) {
    super(message);
    this.name = 'TooLargeError';
  }
}

/** A recording would start on a disk with less free space than MONTAGE_DISK_MIN_FREE_MB. */
export class DiskFullError extends DomainError {
  readonly code = 'disk_full';
  constructor(
    readonly path: string,
    readonly freeMb: number,
    readonly minFreeMb: number,
  ) {
    super(
      `the recordings disk is almost full: ${path} has ${freeMb} MB free, and a recording needs ` +
        `at least ${minFreeMb} MB (MONTAGE_DISK_MIN_FREE_MB); free some space, then start again`,
    );
    this.name = 'DiskFullError';
  }
}

/** A request does not fit where the assembly stands (Go live after End, End twice). */
export class WrongPhaseError extends DomainError {
  readonly code = 'wrong_phase';
  constructor(message: string) {
    super(message);
    this.name = 'WrongPhaseError';
  }
}

/**
 * The media engine refused a peer's SDP offer (it could not be parsed, or it offers nothing the
 * engine can take): the peer must send another offer.
 */
export class SdpRejectedError extends DomainError {
  readonly code = 'sdp_rejected';
  constructor(what: string, reason: string) {
    super(`the media server rejected the ${what}'s SDP offer: ${reason}`);
    this.name = 'SdpRejectedError';
  }
}

/**
 * A video cut to could not be played (not a video, a URL that answers an error, a file that
 * cannot be decoded): the program stays on (or goes back to) what it showed before.
 */
export class VideoFailedError extends DomainError {
  readonly code = 'video_failed';
  constructor(
    readonly type: string,
    readonly description: string,
  ) {
    super(`the video could not be played (${type}): ${description}`);
    this.name = 'VideoFailedError';
  }
}

/** Something of that name exists already and is not replaced (a library video). */
export class AlreadyExistsError extends DomainError {
  readonly code = 'already_exists';
  constructor(message: string) {
    super(message);
    this.name = 'AlreadyExistsError';
  }
}
