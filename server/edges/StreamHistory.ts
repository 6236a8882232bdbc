import { unixMsOfFragmentName } from '../hls/programClock.js';
import {
  fragmentLines,
  historyHeader,
  renderLivePlaylist,
  type HistoryFragment,
  type NginxFragment,
} from './hlsPlaylists.js';

const ENDLIST = '#EXT-X-ENDLIST\n';

/**
 * A copy of `text` that shares no memory with the string it was cut from. V8 keeps a substring
 * of 13 characters or more (from split, slice or a regular expression) as a view into its
 * parent, so a fragment name parsed from index.m3u8 and kept in the history would keep that
 * whole playlist text alive: one copy of nginx-rtmp's playlist per fragment, which made a
 * 30-minute stream's agent grow by 1 MB a minute.
 */
function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/**
 * Every fragment an edge has listed for one stream, in order, and the playlists made from
 * them. Fragments are only ever appended, so the history never drops one and media sequence
 * numbers only grow, whatever nginx-rtmp's own playlist does (restarts, restores, a lost file).
 */
export class StreamHistory {
  private readonly fragments: HistoryFragment[] = [];
  private readonly known = new Set<string>();
  /** `discontinuitiesUpTo[i]`: discontinuities among fragments 0..i. */
  private readonly discontinuitiesUpTo: number[] = [];
  /** The rendered fragment lines of the whole history, kept so a write costs one join. */
  private body = '';
  private target = 1;

  /** Continues a history read back from `history.m3u8`. */
  constructor(recovered: readonly HistoryFragment[] = []) {
    for (const fragment of recovered) this.push(fragment);
  }

  get length(): number {
    return this.fragments.length;
  }

  get last(): HistoryFragment | undefined {
    return this.fragments[this.fragments.length - 1];
  }

  /** A copy of the fragments, for tests and logs. */
  list(): HistoryFragment[] {
    return this.fragments.map((fragment) => ({ ...fragment }));
  }

  /**
   * Appends the fragments of nginx-rtmp's playlist that come after the last one already in the
   * history, and returns how many were appended. nginx-rtmp's list normally contains the
   * history's last fragment; when it does not (its playlist was lost or replaced), every
   * fragment not yet in the history is appended in nginx-rtmp's order.
   *
   * Each fragment's date comes from its name (the program clock), at the time it is first
   * seen; a fragment whose timestamp is not after the previous one's starts a discontinuity.
   * nginx-rtmp's own DISCONTINUITY flags are not used: they mark a new publish on this edge
   * (the edge or the origin restarted), which with the program clock is no timeline break.
   */
  append(listed: readonly NginxFragment[], nowMs: number): number {
    const last = this.last;
    let fresh: readonly NginxFragment[];
    if (last === undefined) {
      fresh = listed;
    } else {
      let at = -1;
      for (let i = listed.length - 1; i >= 0; i--) {
        if (listed[i]?.name === last.name) {
          at = i;
          break;
        }
      }
      fresh =
        at >= 0
          ? listed.slice(at + 1)
          : listed.filter((fragment) => !this.known.has(fragment.name));
    }
    let appended = 0;
    for (const fragment of fresh) {
      const unixMs = unixMsOfFragmentName(fragment.name, nowMs);
      if (unixMs === undefined) continue;
      const previous = this.last;
      this.push({
        name: fragment.name,
        durationMs: fragment.durationMs,
        unixMs,
        discontinuity: previous !== undefined && unixMs <= previous.unixMs,
      });
      appended++;
    }
    return appended;
  }

  /**
   * `history.m3u8`: every fragment, an EVENT playlist; `ended` closes it with EXT-X-ENDLIST, so
   * players treat the finished stream as video on demand (seekable, no reloads).
   */
  historyPlaylist(options: { ended?: boolean } = {}): string {
    return historyHeader(this.target) + this.body + (options.ended === true ? ENDLIST : '');
  }

  /** `live.m3u8`: the last `size` fragments. */
  livePlaylist(size: number): string {
    const first = Math.max(0, this.fragments.length - size);
    return renderLivePlaylist(
      this.fragments.slice(first),
      first,
      first === 0 ? 0 : (this.discontinuitiesUpTo[first - 1] ?? 0),
    );
  }

  private push(parsed: HistoryFragment): void {
    const fragment = { ...parsed, name: detached(parsed.name) };
    const before = this.discontinuitiesUpTo[this.discontinuitiesUpTo.length - 1] ?? 0;
    this.fragments.push(fragment);
    this.known.add(fragment.name);
    this.discontinuitiesUpTo.push(before + (fragment.discontinuity ? 1 : 0));
    this.body += fragmentLines(fragment);
    this.target = Math.max(this.target, Math.round(fragment.durationMs / 1000));
  }
}
