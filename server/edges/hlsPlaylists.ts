/**
 * The text formats of an edge's HLS playlists: reading nginx-rtmp's own `index.m3u8`, and
 * writing (and reading back) the playlist agent's `live.m3u8` and `history.m3u8`. Pure
 * functions; `StreamHistory` holds the state and `PlaylistAgent` the files.
 */

/** A fragment as nginx-rtmp lists it (`hls_fragment_naming timestamp`): `<pts90k>.ts`. */
export const FRAGMENT_NAME = /^([0-9]{1,15})\.ts$/;

/** Stream names as the origin accepts them (server/origin/RtmpOrigin.ts); HLS folder names. */
export const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** One fragment of nginx-rtmp's playlist. Its own DISCONTINUITY flags are not kept. */
export interface NginxFragment {
  name: string;
  /** EXTINF as nginx-rtmp measured it, in milliseconds. */
  durationMs: number;
}

/** One fragment of the agent's history: what `live.m3u8` and `history.m3u8` list. */
export interface HistoryFragment {
  name: string;
  durationMs: number;
  /** EXT-X-PROGRAM-DATE-TIME, computed from the name with the program clock. */
  unixMs: number;
  /** Its timestamp is not after the previous fragment's: the timeline went back. */
  discontinuity: boolean;
}

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.replace(/\r$/, ''));
}

function extinfMs(line: string): number | undefined {
  const match = /^#EXTINF:([0-9]+(?:\.[0-9]+)?)\s*,/.exec(line);
  if (match?.[1] === undefined) return undefined;
  return Math.round(Number(match[1]) * 1000);
}

/**
 * The fragments of nginx-rtmp's `index.m3u8`, in order. A fragment line without a preceding
 * EXTINF, or a name other than `<digits>.ts`, is skipped: nginx-rtmp never writes one, and the
 * agent lists only what it understands.
 */
export function parseNginxPlaylist(text: string): NginxFragment[] {
  const fragments: NginxFragment[] = [];
  let duration: number | undefined;
  for (const line of lines(text)) {
    if (line.startsWith('#EXTINF:')) {
      duration = extinfMs(line);
    } else if (line !== '' && !line.startsWith('#')) {
      if (duration !== undefined && FRAGMENT_NAME.test(line)) {
        fragments.push({ name: line, durationMs: duration });
      }
      duration = undefined;
    }
  }
  return fragments;
}

/**
 * Reads back a `history.m3u8` the agent wrote, so that a restarted agent continues its history
 * (with the same dates and discontinuities) instead of rebuilding it. Returns undefined when the
 * text is not one of ours; a fragment without its date or duration ends the list there.
 */
export function parseHistoryPlaylist(text: string): HistoryFragment[] | undefined {
  const all = lines(text);
  if (all[0] !== '#EXTM3U' || !all.includes('#EXT-X-PLAYLIST-TYPE:EVENT')) return undefined;
  const fragments: HistoryFragment[] = [];
  let duration: number | undefined;
  let unixMs: number | undefined;
  let discontinuity = false;
  for (const line of all) {
    if (line === '#EXT-X-DISCONTINUITY') {
      discontinuity = true;
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const parsed = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
      unixMs = Number.isFinite(parsed) ? parsed : undefined;
    } else if (line.startsWith('#EXTINF:')) {
      duration = extinfMs(line);
    } else if (line !== '' && !line.startsWith('#')) {
      if (duration === undefined || unixMs === undefined || !FRAGMENT_NAME.test(line)) break;
      fragments.push({ name: line, durationMs: duration, unixMs, discontinuity });
      duration = undefined;
      unixMs = undefined;
      discontinuity = false;
    }
  }
  return fragments;
}

/**
 * EXT-X-TARGETDURATION for a list of fragments: every EXTINF rounded to the nearest second is
 * at most the target (RFC 8216 4.3.3.1), and it is never under one second.
 */
export function targetDuration(fragments: readonly HistoryFragment[]): number {
  let target = 1;
  for (const fragment of fragments) {
    target = Math.max(target, Math.round(fragment.durationMs / 1000));
  }
  return target;
}

/** The lines of one fragment: its discontinuity, date, duration and name. */
export function fragmentLines(fragment: HistoryFragment): string {
  return (
    (fragment.discontinuity ? '#EXT-X-DISCONTINUITY\n' : '') +
    `#EXT-X-PROGRAM-DATE-TIME:${new Date(fragment.unixMs).toISOString()}\n` +
    `#EXTINF:${(fragment.durationMs / 1000).toFixed(3)},\n` +
    `${fragment.name}\n`
  );
}

/**
 * The head of `history.m3u8`: an EVENT playlist (only ever appended to) that starts at media
 * sequence 0 with the first fragment the edge wrote for the stream.
 */
export function historyHeader(target: number): string {
  return (
    '#EXTM3U\n#EXT-X-VERSION:3\n' +
    `#EXT-X-TARGETDURATION:${target}\n` +
    '#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n'
  );
}

/**
 * `live.m3u8`: a sliding window over the history (no PLAYLIST-TYPE). `firstSequence` is the
 * index of `window[0]` in the history and `discontinuitiesBefore` the number of
 * discontinuities in the history before it, so both sequence numbers only grow.
 */
export function renderLivePlaylist(
  window: readonly HistoryFragment[],
  firstSequence: number,
  discontinuitiesBefore: number,
): string {
  let text =
    '#EXTM3U\n#EXT-X-VERSION:3\n' +
    `#EXT-X-TARGETDURATION:${targetDuration(window)}\n` +
    `#EXT-X-MEDIA-SEQUENCE:${firstSequence}\n`;
  if (discontinuitiesBefore > 0) {
    text += `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitiesBefore}\n`;
  }
  for (const fragment of window) text += fragmentLines(fragment);
  return text;
}
