/**
 * The multivariant playlist of one assembly: every rendition on every edge (one HLS content
 * steering pathway per edge), and the steering server that ranks the pathways. Each variant
 * points at the edge's own media playlist, so viewers fetch playlists and fragments from edges
 * and only this small file (once) and the steering manifest (every TTL) from the app server.
 *
 * Two sets exist per assembly, one per kind of media playlist on the edges
 * (server/hls/renditions.ts): `live` (the last few fragments, what players reload every second)
 * and `history` (the whole assembly, for seeking back). A player switches between them by loading
 * the other multivariant playlist; both carry the program date on every segment, so the position
 * survives the switch.
 */
import type { EdgeView } from '../edges/EdgeView.js';
import type { HlsSignature } from './HlsSigner.js';
import { renditionStream, type Rendition } from './renditions.js';

export const PLAYLIST_KINDS = ['live', 'history'] as const;
export type PlaylistKind = (typeof PLAYLIST_KINDS)[number];

/**
 * The media playlist of one rendition of one assembly on one edge, under the assembly's signed
 * prefix (server/hls/HlsSigner.ts); its fragments are relative to it, so they carry it too.
 */
export function mediaPlaylistUrl(
  edge: Pick<EdgeView, 'publicUrl'>,
  assembly: string,
  rendition: Rendition,
  kind: PlaylistKind,
  signature: HlsSignature,
): string {
  return `${edge.publicUrl}${signature.prefix}${renditionStream(assembly, rendition)}/${kind}.m3u8`;
}

export interface MultivariantOptions {
  assembly: string;
  kind: PlaylistKind;
  /** The pathways, in the order the playlist lists them (at least one). */
  edges: readonly Pick<EdgeView, 'id' | 'publicUrl'>[];
  /** The renditions that are live, the source first. */
  renditions: readonly Rendition[];
  /** SERVER-URI: the steering manifest, relative to the multivariant playlist's URL. */
  steeringUri: string;
  /** The pathway the player uses until its first steering manifest arrives. */
  pathwayId: string;
  /** The assembly's current HLS signature, in every media playlist URL. */
  signature: HlsSignature;
}

/** A quoted-string attribute value may not hold double quotes or line breaks (RFC 8216 4.2). */
function quoted(value: string): string {
  if (/["\r\n]/.test(value)) throw new TypeError(`not allowed in a quoted-string: ${value}`);
  return `"${value}"`;
}

export function renderMultivariant(options: MultivariantOptions): string {
  if (options.edges.length === 0) throw new TypeError('a multivariant playlist needs an edge');
  const lines = [
    '#EXTM3U',
    // Every fragment starts with a keyframe (the program's GOP is the fragment).
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-CONTENT-STEERING:SERVER-URI=${quoted(options.steeringUri)},` +
      `PATHWAY-ID=${quoted(options.pathwayId)}`,
  ];
  for (const edge of options.edges) {
    for (const rendition of options.renditions) {
      lines.push(
        `#EXT-X-STREAM-INF:BANDWIDTH=${rendition.bandwidth},` +
          `AVERAGE-BANDWIDTH=${rendition.averageBandwidth},` +
          `CODECS=${quoted(rendition.codecs)},` +
          `RESOLUTION=${rendition.width}x${rendition.height},` +
          `FRAME-RATE=${rendition.frameRate.toFixed(3)},` +
          `PATHWAY-ID=${quoted(edge.id)},` +
          `STABLE-VARIANT-ID=${quoted(rendition.stableId)}`,
        mediaPlaylistUrl(edge, options.assembly, rendition, options.kind, options.signature),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
