/**
 * Typed identifiers. Each id is a string at run time but a distinct type at compile time, so an
 * `AssemblyId` cannot be passed where a `CameraId` is expected. Ids are created here (random,
 * url-safe) or parsed from outside input here, never cast elsewhere.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';

declare const brand: unique symbol;
/** A string that the type system tells apart from other strings by its brand `B`. */
export type Brand<B extends string> = string & { readonly [brand]: B };

export type AssemblyId = Brand<'AssemblyId'>;
export type CameraId = Brand<'CameraId'>;
export type ViewerId = Brand<'ViewerId'>;
/** Anyone connected to an assembly over socket.io (camera, presenter, moderator, viewer, operator). */
export type ParticipantId = Brand<'ParticipantId'>;
export type InviteId = Brand<'InviteId'>;
/** A program recording in the archive (server/domain/Archive.ts). */
export type RecordingId = Brand<'RecordingId'>;
/**
 * A secret a camera page keeps for its browser tab (sessionStorage) and sends in its handshake,
 * so that the page reconnecting (a reload, a network change) gets its camera back.
 */
export type CameraKey = Brand<'CameraKey'>;

/** Url-safe ids: letters, digits, '-' and '_' (what base64url produces). */
const URL_SAFE_ID = /^[A-Za-z0-9_-]{6,64}$/;

/**
 * A random url-safe id that does not start with '-': ids are typed on command lines
 * (`npm run token -- --assembly ID`), where a leading '-' reads as an option.
 */
function randomId(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function newAssemblyId(): AssemblyId {
  return randomId(9) as AssemblyId;
}

export function newCameraId(): CameraId {
  return `cam-${randomId(6)}` as CameraId;
}

export function newViewerId(): ViewerId {
  return `vw-${randomId(6)}` as ViewerId;
}

export function newParticipantId(): ParticipantId {
  return `p-${randomId(6)}` as ParticipantId;
}

export function newRecordingId(): RecordingId {
  return `rec-${randomId(9)}` as RecordingId;
}

export function newInviteId(): InviteId {
  return randomId(12) as InviteId;
}

/** True when `text` has the shape of an id (any kind); says nothing about whether it exists. */
export function isUrlSafeId(text: string): boolean {
  return URL_SAFE_ID.test(text);
}

/** At least 128 random bits in base64url: too long to guess, short enough for a handshake. */
const CAMERA_KEY = /^[A-Za-z0-9_-]{22,64}$/;

/** Parses a camera key from a handshake. */
export function parseCameraKey(text: string, what = 'camera key'): CameraKey {
  if (!CAMERA_KEY.test(text)) {
    throw new InvalidArgumentError(
      `${what} is invalid: expected 22 to 64 letters, digits, '-' or '_' (a random value)`,
    );
  }
  return text as CameraKey;
}

/** Parses an assembly id from outside input (a URL, a token, a CLI argument). */
export function parseAssemblyId(text: string, what = 'assembly id'): AssemblyId {
  if (!isUrlSafeId(text)) {
    throw new InvalidArgumentError(
      `${what} '${text.slice(0, 80)}' is invalid: expected 6 to 64 letters, digits, '-' or '_'`,
    );
  }
  return text as AssemblyId;
}

/** Parses an invite id from outside input (a URL path). */
export function parseInviteId(text: string, what = 'invite id'): InviteId {
  if (!isUrlSafeId(text)) {
    throw new InvalidArgumentError(
      `${what} '${text.slice(0, 80)}' is invalid: expected 6 to 64 letters, digits, '-' or '_'`,
    );
  }
  return text as InviteId;
}

/** Parses a recording id from outside input (a URL path): `rec-` and a random part. */
export function parseRecordingId(text: string, what = 'recording id'): RecordingId {
  if (!/^rec-[A-Za-z0-9_-]{6,60}$/.test(text)) {
    throw new InvalidArgumentError(
      `${what} '${text.slice(0, 80)}' is invalid: expected 'rec-' and 6 to 60 letters, digits, '-' or '_'`,
    );
  }
  return text as RecordingId;
}
