/**
 * The program's renditions (its ABR ladder) and the streams that carry them. The source
 * rendition is the program as the media server encodes it (720p, copied by the bridge); the
 * others are encoded once, upstream of the edges, from the source stream on the origin, so an
 * edge never encodes anything and every edge serves the same renditions.
 *
 * On the origin and on every edge, rendition R of assembly A is the RTMP stream
 * `A` (source) or `A_R` (e.g. `A_360p`), and its HLS is under `/hls/<stream>/` on each edge:
 *   live.m3u8     the live playlist: the last few fragments (what players reload every second)
 *   history.m3u8  the whole assembly so far, for seeking back (EVENT)
 *   <pts>.ts      fragments named by their start timestamp (program clock, 90 kHz)
 */
import type { AssemblyId } from '../domain/ids.js';

/** The renditions encoded from the source (the source itself is always there). */
export const ENCODED_RENDITION_IDS = ['360p'] as const;
export type RenditionId = (typeof ENCODED_RENDITION_IDS)[number];

export interface Rendition {
  /** Names the rendition in stream names and playlists; '' for the source. */
  id: '' | RenditionId;
  /**
   * STABLE-VARIANT-ID in the multivariant playlist: the same on every pathway, so that a
   * steering manifest can clone a pathway for an edge added after the player loaded its playlist.
   */
  stableId: string;
  /** Frame size (the source's is the media server's composite size). */
  width: number;
  height: number;
  frameRate: number;
  /** Peak video + audio bit rate in bits per second, for BANDWIDTH in the multivariant playlist. */
  bandwidth: number;
  /** Average bit rate, for AVERAGE-BANDWIDTH. */
  averageBandwidth: number;
  /** RFC 6381 codecs string for CODECS in the multivariant playlist. */
  codecs: string;
}

/**
 * The engine's x264 (kms/worker/link.c: constrained baseline, 1500 kbit/s, 1 s GOP) and the
 * bridge's 128 kbit/s AAC, in MPEG-TS. ffprobe of the program on the origin: h264 Constrained
 * Baseline level 3.1, 1280x720, 30 fps; aac LC 48 kHz (test/hls/renditionEncoder.test.ts checks
 * the same for its stand-in).
 */
export const SOURCE_RENDITION: Rendition = {
  id: '',
  stableId: '720p',
  width: 1280,
  height: 720,
  frameRate: 30,
  bandwidth: 2_500_000,
  averageBandwidth: 1_800_000,
  codecs: 'avc1.42c01f,mp4a.40.2',
};

/**
 * About 600 kbit/s of video for weak school Wi-Fi (server/bridge/RenditionEncoder.ts: x264
 * constrained baseline level 3.0, VBV-capped), plus the source's AAC copied as it is, so audio
 * is identical in every rendition and a switch never disturbs it.
 */
export const LOW_RENDITION: Rendition = {
  id: '360p',
  stableId: '360p',
  width: 640,
  height: 360,
  frameRate: 30,
  bandwidth: 900_000,
  averageBandwidth: 800_000,
  codecs: 'avc1.42c01e,mp4a.40.2',
};

export const RENDITIONS: readonly Rendition[] = [SOURCE_RENDITION, LOW_RENDITION];

/** The encoded rendition with this id. */
export function renditionById(id: RenditionId): Rendition {
  const rendition = RENDITIONS.find((candidate) => candidate.id === id);
  if (rendition === undefined) throw new TypeError(`no rendition ${id}`);
  return rendition;
}

/** The RTMP stream (and HLS folder) name of one rendition of an assembly's program. */
export function renditionStream(assembly: AssemblyId | string, rendition: Rendition): string {
  return rendition.id === '' ? assembly : `${assembly}_${rendition.id}`;
}

/**
 * The assembly a stream name belongs to: the name without an encoded rendition's suffix. The
 * edges split a signed path the same way (nginx/edge.conf.template, `{{RENDITION_SUFFIXES}}`).
 */
export function assemblyOfStream(stream: string): string {
  for (const id of ENCODED_RENDITION_IDS) {
    const suffix = `_${id}`;
    if (stream.endsWith(suffix) && stream.length > suffix.length) {
      return stream.slice(0, -suffix.length);
    }
  }
  return stream;
}
