/**
 * The program clock: the one timeline every program stream carries from the bridge to the
 * players, so that every edge, every rendition and every restart of any part agree on time.
 *
 * A program stream's RTMP timestamps are wall-clock milliseconds (Unix time, as the program
 * bridge receives the media) modulo 2^31. FLV carries timestamps as signed 32-bit values, so 2^31
 * is the largest modulus that survives every hop (ffmpeg's FLV muxer, node-media-server,
 * nginx-rtmp); it wraps every 24.8 days.
 *
 * Why wall clock rather than "time since this ffmpeg started":
 *  - A restarted bridge, origin, engine or edge continues the same timeline: timestamps only
 *    ever move forward (by the length of the outage), so HLS players never see time go back.
 *  - Each edge writes its own HLS from the pushed stream. With the same timestamps everywhere,
 *    fragments are cut at the same keyframes and carry the same PTS on every edge and every
 *    rendition, and a segment's EXT-X-PROGRAM-DATE-TIME can be computed from its timestamp
 *    alone, identically on every edge, without asking anyone. hls.js aligns pathways (edges)
 *    and renditions by that date when it switches.
 */

/** RTMP/FLV program timestamps are Unix milliseconds modulo this. */
export const PROGRAM_CLOCK_MODULUS_MS = 2 ** 31;

/** The program timestamp (ms) of a wall-clock instant. */
export function programTimestamp(unixMs: number): number {
  const mod = Math.floor(unixMs) % PROGRAM_CLOCK_MODULUS_MS;
  return mod < 0 ? mod + PROGRAM_CLOCK_MODULUS_MS : mod;
}

/**
 * The wall-clock instant (Unix ms) of a program timestamp: the latest instant congruent to
 * `timestampMs` that is not after `nowMs` plus `slackMs` (media may be stamped by a clock a
 * little ahead of the reader's). Correct for media younger than 24.8 days.
 */
export function unixMsOfProgramTimestamp(
  timestampMs: number,
  nowMs: number,
  slackMs = 60_000,
): number {
  const ceiling = nowMs + slackMs;
  const base = ceiling - programTimestamp(ceiling);
  const candidate = base + programTimestamp(timestampMs);
  return candidate > ceiling ? candidate - PROGRAM_CLOCK_MODULUS_MS : candidate;
}

/**
 * nginx-rtmp names fragments by their start timestamp in 90 kHz units when
 * `hls_fragment_naming timestamp` is set (edge.conf.template); this is that name's instant.
 */
export function unixMsOfFragmentName(name: string, nowMs: number): number | undefined {
  const match = /^(\d+)\.ts$/.exec(name);
  if (match?.[1] === undefined) return undefined;
  return unixMsOfProgramTimestamp(Math.floor(Number(match[1]) / 90), nowMs);
}
