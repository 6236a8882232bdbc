/**
 * Live camera thumbnails for the panel and the studio. Each camera page sends a small JPEG of its
 * own preview every couple of seconds, and the server relays it to the crew (presenters,
 * moderators, operators) of the assembly.
 *
 * Why not a WebRTC subscription per camera, as LiveKit's simulcast layers allow: Kurento (and
 * our engine, which behaves as it does) would decode and re-encode every camera once more for
 * every panel that is open, which costs a VP8 encoder per camera per panel on the media server.
 * A 160x90 JPEG every 2 s costs the server nothing but the relay and works unchanged against a
 * real Kurento Media Server.
 */
import { InvalidArgumentError, RateLimitedError } from '../domain/errors.js';

/** A 160x90 JPEG at quality 0.6 is 3-6 kB; 48 kB leaves room for a larger, busier picture. */
export const MAX_THUMBNAIL_BYTES = 48 * 1024;
/** How often a camera may send one; the pages send every 2 s, a little faster is tolerated. */
export const MIN_THUMBNAIL_INTERVAL_MS = 1000;

/**
 * The JPEG bytes of a `camera:thumbnail` payload, or a clear error. socket.io delivers binary as
 * a Buffer in Node; anything else (a string, a number array) is refused, as is anything that does
 * not start with the JPEG signature, so the crew's pages never get to decode arbitrary data.
 */
export function thumbnailPayload(payload: unknown, event: string): Buffer {
  if (typeof payload !== 'object' || payload === null) {
    throw new InvalidArgumentError(`${event}: the payload must be an object { jpeg }`);
  }
  // Like every other payload, unknown fields are refused rather than ignored.
  const unknown = Object.keys(payload).filter((key) => key !== 'jpeg');
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `${event} has unknown field(s) ${unknown.join(', ')}; allowed: jpeg`,
    );
  }
  const jpeg = (payload as { jpeg?: unknown }).jpeg;
  const bytes = Buffer.isBuffer(jpeg)
    ? jpeg
    : jpeg instanceof ArrayBuffer
      ? Buffer.from(jpeg)
      : jpeg instanceof Uint8Array
        ? Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength)
        : undefined;
  if (bytes === undefined) {
    throw new InvalidArgumentError(`${event}: jpeg must be binary (an ArrayBuffer of a JPEG)`);
  }
  if (bytes.length > MAX_THUMBNAIL_BYTES) {
    throw new InvalidArgumentError(
      `${event}: the thumbnail is ${bytes.length} bytes; at most ${MAX_THUMBNAIL_BYTES} are accepted`,
    );
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff) {
    throw new InvalidArgumentError(`${event}: jpeg is not a JPEG image`);
  }
  return bytes;
}

/** Refuses thumbnails that come faster than one per `MIN_THUMBNAIL_INTERVAL_MS` from one camera. */
export class ThumbnailGate {
  #lastAt = Number.NEGATIVE_INFINITY;

  admit(now = Date.now()): void {
    if (now - this.#lastAt < MIN_THUMBNAIL_INTERVAL_MS) {
      throw new RateLimitedError(
        `one thumbnail per ${MIN_THUMBNAIL_INTERVAL_MS / 1000} s per camera is relayed`,
      );
    }
    this.#lastAt = now;
  }
}
