/**
 * The viewer's watch page: the assembly as HLS, played by hls.js, or natively where the browser
 * plays HLS itself (Safari, iOS). The server hands out two multivariant playlists: `live` (each
 * edge's short live playlist, what the page plays by default) and `history` (the whole assembly).
 * Both list every edge as an HLS content steering pathway and every rendition (720p, 360p): the
 * app's steering manifest tells the player which edge to use, the player leaves an edge that
 * fails for the next one by itself, and picks the rendition its bandwidth allows. A viewer who
 * goes back before the live window switches to `history`, and "Go live" switches back; the
 * position is kept by program date (every segment carries one, the same on every edge and
 * rendition). The live indicator says whether the picture is at the live edge. Reactions go
 * over signaling, rate-limited here too so a held-down button cannot flood the hall.
 */
import './lib/style.css';
import Hls, { ErrorTypes, Events, type HlsConfig, type LoaderConfig } from 'hls.js';
import { REACTIONS, type PhaseWire, type Reaction } from '../../server/signaling/events.js';
import { api } from './lib/api.js';
import {
  connect,
  pageAssembly,
  request,
  RequestError,
  type SignalingSocket,
} from './lib/connect.js';
import {
  appRoot,
  errorMessage,
  formatDuration,
  h,
  Notice,
  replaceChildren,
  VideoOverlay,
} from './lib/dom.js';
import { HlsSignatureKeeper, type HlsSignatureWire } from './lib/HlsSignatureKeeper.js';
import { isReaction, ReactionFloaters, REACTION_LOOKS } from './lib/reactions.js';
import { retryDelayMs } from './lib/webrtc.js';

/** How often the page asks again while the assembly has not started. */
const WAITING_POLL_MS = 5000;
/**
 * The live indicator averages how far behind the viewer is over this long: the playlist's end
 * moves in fragment steps and the player catches up between them, so one reading saws up and
 * down by a fragment while the average is how far behind the viewer really is.
 */
const BEHIND_WINDOW_MS = 3000;
/** How far the rewind button goes back. */
const REWIND_SECONDS = 30;
/** Replayed reactions are fetched in windows of this much program time. */
const REPLAY_WINDOW_MS = 30_000;
/** A jump of the picture by more than this (a seek, a stall) replays nothing in between. */
const REPLAY_MAX_STEP_MS = 3000;

/** A second of reactions as GET /api/assemblies/:id/reactions gives it. */
interface ReactionSecondWire {
  atMs: number;
  reaction: string;
  count: number;
}

/** How often the chapters are asked for again while the assembly is live. */
const CHAPTERS_POLL_MS = 10_000;

/** A chapter as GET /api/assemblies/:id/chapters gives it (server/http/timelineRoutes.ts). */
interface ChapterWire {
  /** Program time, Unix ms: the playlists' EXT-X-PROGRAM-DATE-TIME. */
  atMs: number;
  kind: 'live' | 'cut' | 'clip' | 'layout';
  title: string;
}

interface WatchInfo {
  /** A server from before phases sends none (its assemblies are live from the start). */
  phase?: PhaseWire;
  name?: string;
  live: boolean;
  /** Multivariant playlists (app-relative URLs, token and steering session included). */
  liveUrl: string;
  historyUrl: string;
  /** The signature of the edges' HLS URLs now (a server from before signing sends none). */
  hls?: HlsSignatureWire;
}

type PlaylistKind = 'live' | 'history';

/**
 * Load policies for a player that has other edges to go to. hls.js leaves an edge (a content
 * steering pathway) once a request there failed for every rendition, so each failure must come
 * quickly: an edge that refuses connections fails at once (a status-0 error is not retried), one
 * that stopped answering fails after the first-byte timeout, and a 5xx is retried once, briefly.
 * The first-byte timeouts are generous for an edge that answers (a playlist is a few hundred
 * bytes, a 1 s fragment starts streaming within milliseconds) yet survive a busy device whose
 * page stalls for a second (a shorter one sent viewers of starved pages to other edges for
 * nothing in test/hls/threeEdges.test.ts); an edge that refuses connections is left at once.
 */
function loadPolicy(firstByteMs: number, loadMs: number): { default: LoaderConfig } {
  return {
    default: {
      maxTimeToFirstByteMs: firstByteMs,
      maxLoadTimeMs: loadMs,
      timeoutRetry: { maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 1, retryDelayMs: 250, maxRetryDelayMs: 250 },
    },
  };
}

const PLAYER_CONFIG: Partial<HlsConfig> = {
  // The history playlist grows for the whole assembly: keep all of it seekable.
  liveDurationInfinity: true,
  backBufferLength: 90,
  // 1.5 s behind the end of the playlist instead of hls.js's three fragments (about 3 s with our
  // 1 s GOPs): 1.5 s closer to live (npm run bench -- g2g), and still half a fragment of margin
  // beyond the one being written.
  liveSyncDuration: 1.5,
  // A viewer who fell behind (a stall, a background tab) catches up by playing slightly faster
  // instead of jumping, so the picture never skips.
  maxLiveSyncPlaybackRate: 1.1,
  playlistLoadPolicy: loadPolicy(1500, 3000),
  fragLoadPolicy: loadPolicy(2000, 8000),
  // A rendition that failed once (the 360p encoder was still starting) is tried again later
  // instead of never.
  errorPenaltyExpireMs: 15_000,
};

/**
 * A token bucket: `capacity` reactions at once, then one more every `refillMs`. The server
 * limits too; this keeps the page honest and tells the viewer why a button is resting.
 */
class RateLimiter {
  #tokens: number;
  #last = Date.now();
  constructor(
    readonly capacity: number,
    readonly refillMs: number,
  ) {
    this.#tokens = capacity;
  }

  #refill(): void {
    const now = Date.now();
    const earned = Math.floor((now - this.#last) / this.refillMs);
    if (earned > 0) {
      this.#tokens = Math.min(this.capacity, this.#tokens + earned);
      this.#last += earned * this.refillMs;
    }
    if (this.#tokens === this.capacity) this.#last = now;
  }

  take(): boolean {
    this.#refill();
    if (this.#tokens <= 0) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next reaction may be sent. */
  get waitMs(): number {
    this.#refill();
    return this.#tokens > 0 ? 0 : this.refillMs - (Date.now() - this.#last);
  }
}

class WatchPage {
  readonly #assemblyId = pageAssembly();
  readonly #socket: SignalingSocket;
  readonly #video = h('video', {
    playsinline: true,
    preload: 'auto',
    'aria-label': 'The assembly',
  });
  readonly #overlay = new VideoOverlay();
  /**
   * Shown instead of the picture while the assembly is backstage ("starting soon", with its
   * title) and once it has ended: viewers never see the rehearsal.
   */
  readonly #slateTitle = h('p', { class: 'slate-title' });
  readonly #slateText = h('p', { class: 'slate-text' });
  /** On the ended slate: plays the whole assembly from the edges' closed history (VOD). */
  readonly #replayButton = h(
    'button',
    { type: 'button', class: 'primary', id: 'replay', hidden: true },
    '▶ Watch from the start',
  );
  readonly #slate = h(
    'div',
    { class: 'slate', id: 'slate', hidden: true, role: 'status' },
    this.#slateTitle,
    this.#slateText,
    this.#replayButton,
  );
  readonly #floaters = new ReactionFloaters();
  readonly #liveButton = h(
    'button',
    { type: 'button', class: 'badge', id: 'live-indicator', hidden: true },
    'LIVE',
  );
  readonly #rewindButton = h(
    'button',
    {
      type: 'button',
      class: 'badge right',
      id: 'rewind',
      hidden: true,
      title: `Back ${REWIND_SECONDS} seconds`,
      'aria-label': `Back ${REWIND_SECONDS} seconds`,
    },
    `⟲ ${REWIND_SECONDS} s`,
  );
  /** The chapters on a timeline of the whole assembly (Go live to now), and as a list. */
  readonly #chapterPlayhead = h('div', { class: 'chapter-playhead', 'aria-hidden': 'true' });
  readonly #chapterBar = h(
    'div',
    { class: 'chapter-bar', id: 'chapter-bar', role: 'group', 'aria-label': 'Chapters' },
    this.#chapterPlayhead,
  );
  readonly #chapterList = h('ol', { class: 'chapter-list', id: 'chapter-list' });
  readonly #chapterBox = h(
    'div',
    { class: 'chapters stack', id: 'chapters', hidden: true },
    this.#chapterBar,
    this.#chapterList,
  );
  #chapters: ChapterWire[] = [];
  #chapterTimer: ReturnType<typeof setInterval> | undefined;
  /** Replayed reactions by window start (program time); a window being fetched is `null`. */
  readonly #replayWindows = new Map<number, ReactionSecondWire[] | null>();
  /** The program date up to which reactions were replayed. */
  #replayedUpTo: number | undefined;
  /** This page's own reactions since the last tick (they floated when sent). */
  #ownSinceTick = new Map<Reaction, number>();
  readonly #reactionButtons = new Map<Reaction, HTMLButtonElement>();
  readonly #reactionNotice = new Notice();
  readonly #viewers = h('span', { class: 'muted small', id: 'viewer-count' });
  readonly #limiter = new RateLimiter(5, 1500);
  #hls: Hls | undefined;
  /** Keeps the edges' HLS signature fresh; its loader re-signs every request of the player. */
  readonly #signatures = new HlsSignatureKeeper(this.#assemblyId, (signature) => {
    // For tests and support: until when the player's HLS URLs are valid.
    this.#video.dataset.hlsExpires = String(signature.expires);
  });
  #info: WatchInfo | undefined;
  /** The ended assembly is being watched again (its history as video on demand). */
  #replaying = false;
  #kind: PlaylistKind = 'live';
  /** Program date to resume at once the next playlist loads (a switch between kinds). */
  #resumeAt: number | undefined;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #mediaRecoveries = 0;
  /** Recent readings of how far behind the live edge the picture is (seconds), since a seek. */
  #behindSamples: Array<{ at: number; seconds: number }> = [];

  constructor() {
    this.#video.playsInline = true;
    this.#socket = connect();
    this.#render();
    this.#socket.on('welcome', ({ viewers }) => {
      // A server from before viewer counting sends no figure.
      if (typeof viewers === 'number') this.#viewers.textContent = `${viewers} watching`;
    });
    this.#socket.on('viewers:count', ({ count }) => {
      this.#viewers.textContent = `${count} watching`;
    });
    this.#socket.on('connect', () => this.#updateReactionButtons());
    // Everyone's reactions float over the live picture; a viewer in the past sees the replay.
    this.#socket.on('reactions:tick', ({ counts }) => {
      const own = this.#ownSinceTick;
      this.#ownSinceTick = new Map();
      if (this.#liveButton.dataset.live !== 'true' || this.#replaying) return;
      for (const [name, count] of Object.entries(counts)) {
        if (!isReaction(name) || !Number.isFinite(count)) continue;
        const others = count - (own.get(name) ?? 0);
        if (others > 0) this.#floaters.spawn(name, others);
      }
    });
    this.#socket.on('disconnect', () => this.#updateReactionButtons());
    // Go live and End reach the page at once, not at its next poll.
    this.#socket.on('assembly:updated', (assembly) => {
      if (assembly.phase === 'ended') {
        if (!this.#replaying) this.#showEnded(assembly.name, this.#info);
      } else if (assembly.phase === 'live' && this.#info === undefined) void this.#load();
    });
    this.#socket.on('assembly:deleted', () => {
      this.#stop();
      this.#overlay.show('This assembly was deleted.', { bad: true });
    });
    // The server ends the connections of a link that was revoked or expired, after saying so.
    // The player stops now: its signature would let it go on until it lapses (up to
    // MONTAGE_HLS_URL_TTL_SECONDS, ten minutes by default), with the header already saying the
    // link is revoked. Without signaling the lapsed signature stops it later (see #load).
    this.#socket.on('request:error', (failure) => {
      if (failure.code === 'token_revoked' || failure.code === 'token_expired') {
        this.#refuse(failure.message);
      }
    });

    this.#video.addEventListener('playing', () => this.#overlay.hide());
    // Controls (and with them seeking back) appear once there is a stream to control.
    this.#video.addEventListener('loadedmetadata', () => (this.#video.controls = true));
    this.#video.addEventListener('waiting', () => this.#overlay.show('Buffering…', { busy: true }));
    this.#video.addEventListener('ended', () => this.#overlay.show('The assembly has ended.'));
    this.#video.addEventListener('timeupdate', () => this.#updateLive());
    // A seek moves the picture at once: the average starts again from there.
    this.#video.addEventListener('seeking', () => (this.#behindSamples = []));
    // Where a seek landed, by program date (a chapter's click is checked against it); the
    // replay starts with that second's reactions.
    this.#video.addEventListener('seeked', () => {
      const date = this.#playingDate();
      if (date !== undefined) this.#video.dataset.seekedDate = String(date);
      this.#replayedUpTo = date === undefined ? undefined : date - 1000;
    });
    setInterval(() => this.#updateLive(), 1000);
    this.#liveButton.addEventListener('click', () => this.#goLive());
    this.#rewindButton.addEventListener('click', () => this.#rewind(REWIND_SECONDS));
    this.#replayButton.addEventListener('click', () => this.#replay());
    void this.#load();
  }

  #render(): void {
    this.#overlay.show('Connecting…', { busy: true });
    const box = h(
      'div',
      { class: 'video-box' },
      this.#video,
      this.#liveButton,
      this.#rewindButton,
      this.#floaters.element,
      this.#overlay.element,
      this.#slate,
    );
    const bar = h('div', {
      class: 'reactions-bar',
      role: 'group',
      'aria-label': 'Send a reaction',
    });
    for (const reaction of REACTIONS) {
      const { emoji, label } = REACTION_LOOKS[reaction];
      const button = h(
        'button',
        { type: 'button', 'aria-label': label, title: label, 'data-reaction': reaction },
        emoji,
      );
      button.addEventListener('click', () => void this.#react(reaction));
      this.#reactionButtons.set(reaction, button);
      bar.append(button);
    }
    replaceChildren(
      appRoot(),
      h(
        'section',
        { class: 'card stack', 'aria-label': 'Assembly' },
        box,
        this.#chapterBox,
        bar,
        this.#reactionNotice.element,
        h('div', { class: 'row', style: 'justify-content:center' }, this.#viewers),
      ),
    );
    this.#updateReactionButtons();
  }

  /** Asks the server where to watch; waits and asks again while the assembly is not live. */
  async #load(): Promise<void> {
    clearTimeout(this.#retry);
    let info: WatchInfo;
    try {
      info = await api<WatchInfo>('GET', `/api/assemblies/${this.#assemblyId}/watch`);
    } catch (error) {
      if (
        error instanceof RequestError &&
        (error.code === 'token_invalid' ||
          error.code === 'token_expired' ||
          error.code === 'token_revoked' ||
          error.code === 'forbidden')
      ) {
        this.#refuse(error.message);
        return;
      }
      if (error instanceof RequestError && error.code === 'network') {
        this.#scheduleLoad('Connection lost, retrying…', retryDelayMs(this.#attempt++));
        return;
      }
      // No stream to hand out yet (no edge, nothing published): the same as not started.
      this.#scheduleLoad('Waiting for the presenter to start the assembly…', WAITING_POLL_MS);
      return;
    }
    if (info.hls !== undefined) this.#signatures.use(info.hls);
    if (info.phase === 'ended') {
      this.#showEnded(info.name, info);
      void this.#loadChapters();
      return;
    }
    if (info.phase === 'backstage') {
      this.#showSlate('starting', info.name ?? '', 'Starting soon');
      this.#scheduleLoad('Waiting for the assembly to start…', WAITING_POLL_MS);
      return;
    }
    if (!info.live) {
      this.#scheduleLoad('Waiting for the presenter to start the assembly…', WAITING_POLL_MS);
      return;
    }
    this.#slate.hidden = true;
    this.#info = info;
    this.#play('live', undefined);
    void this.#loadChapters();
    clearInterval(this.#chapterTimer);
    this.#chapterTimer = setInterval(() => void this.#loadChapters(), CHAPTERS_POLL_MS);
  }

  /** Asks for the chapters and shows them; a failure leaves the last ones shown. */
  async #loadChapters(): Promise<void> {
    try {
      const { chapters } = await api<{ chapters: ChapterWire[] }>(
        'GET',
        `/api/assemblies/${this.#assemblyId}/chapters`,
      );
      this.#chapters = chapters;
    } catch {
      return;
    }
    this.#renderChapters();
  }

  #renderChapters(): void {
    const chapters = this.#chapters;
    this.#chapterBox.hidden = chapters.length === 0;
    const first = chapters[0]?.atMs ?? 0;
    replaceChildren(
      this.#chapterList,
      ...chapters.map((chapter, index) => {
        const button = h(
          'button',
          { type: 'button', class: 'chapter-link', 'data-kind': chapter.kind, 'data-index': index },
          h('span', { class: 'chapter-time' }, formatDuration(chapter.atMs - first)),
          ` ${chapter.title}`,
        );
        button.addEventListener('click', () => this.#seekToDate(chapter.atMs));
        return h('li', {}, button);
      }),
    );
    for (const marker of this.#chapterBar.querySelectorAll('.chapter-marker')) marker.remove();
    for (const [index, chapter] of chapters.entries()) {
      const marker = h('button', {
        type: 'button',
        class: 'chapter-marker',
        'data-kind': chapter.kind,
        'data-index': index,
        title: `${formatDuration(chapter.atMs - first)} ${chapter.title}`,
        'aria-label': `${chapter.title}, at ${formatDuration(chapter.atMs - first)}`,
      });
      marker.addEventListener('click', () => this.#seekToDate(chapter.atMs));
      this.#chapterBar.append(marker);
    }
    this.#placeChapters();
  }

  /**
   * Places the markers and the playhead on the timeline, which runs from the first chapter
   * (Go live) to the newest program date the player knows (the live edge, or the end).
   */
  #placeChapters(): void {
    const first = this.#chapters[0]?.atMs;
    if (first === undefined) return;
    const last = this.#chapters[this.#chapters.length - 1]?.atMs ?? first;
    const end = Math.max(this.#edgeDate() ?? Date.now(), last + 1000);
    const at = (ms: number): string =>
      `${(Math.min(1, Math.max(0, (ms - first) / (end - first))) * 100).toFixed(2)}%`;
    for (const marker of this.#chapterBar.querySelectorAll<HTMLElement>('.chapter-marker')) {
      const chapter = this.#chapters[Number(marker.dataset.index)];
      if (chapter !== undefined) marker.style.left = at(chapter.atMs);
    }
    const playing = this.#playingDate();
    this.#chapterPlayhead.hidden = playing === undefined;
    if (playing !== undefined) this.#chapterPlayhead.style.left = at(playing);
    let current = -1;
    for (const [index, chapter] of this.#chapters.entries()) {
      if (playing !== undefined && chapter.atMs <= playing) current = index;
    }
    for (const [index, item] of [...this.#chapterList.children].entries()) {
      if (index === current) item.setAttribute('aria-current', 'true');
      else item.removeAttribute('aria-current');
    }
  }

  /**
   * Replays the reactions sent at the program times the picture has just played through, when
   * the viewer watches the past (behind live, or the ended assembly again). Reactions come from
   * the server in windows of program time, fetched a window ahead.
   */
  #replayReactions(playing: number): void {
    const past = this.#replaying || this.#liveButton.dataset.live === 'false';
    const from = this.#replayedUpTo;
    this.#replayedUpTo = playing;
    if (!past) return;
    const start = Math.floor(playing / REPLAY_WINDOW_MS) * REPLAY_WINDOW_MS;
    for (const window of [start, start + REPLAY_WINDOW_MS]) {
      if (!this.#replayWindows.has(window)) void this.#loadReplayWindow(window);
    }
    if (from === undefined || playing <= from || playing - from > REPLAY_MAX_STEP_MS) return;
    for (const window of [start - REPLAY_WINDOW_MS, start]) {
      for (const second of this.#replayWindows.get(window) ?? []) {
        if (second.atMs > from && second.atMs <= playing && isReaction(second.reaction)) {
          this.#floaters.spawn(second.reaction, second.count, second.atMs);
        }
      }
    }
  }

  async #loadReplayWindow(window: number): Promise<void> {
    this.#replayWindows.set(window, null);
    try {
      const { reactions } = await api<{ reactions: ReactionSecondWire[] }>(
        'GET',
        `/api/assemblies/${this.#assemblyId}/reactions?from=${window}&to=${window + REPLAY_WINDOW_MS}`,
      );
      this.#replayWindows.set(window, reactions);
      // A window of the live edge fills up still: ask again when the picture comes back to it.
      if (window + REPLAY_WINDOW_MS > Date.now() - REPLAY_WINDOW_MS) {
        setTimeout(() => this.#replayWindows.delete(window), 10_000);
      }
    } catch {
      this.#replayWindows.delete(window);
    }
  }

  /** The program date of the end of the newest playlist, when it has dates. */
  #edgeDate(): number | undefined {
    const details = this.#hls?.latestLevelDetails;
    const last = details?.fragments[details.fragments.length - 1];
    if (last?.programDateTime === null || last?.programDateTime === undefined) return undefined;
    return last.programDateTime + last.duration * 1000;
  }

  /**
   * Shows the picture of program date `ms`: a seek within the playlist playing when it holds
   * that moment, otherwise the whole assembly's playlist from there.
   */
  #seekToDate(ms: number): void {
    this.#video.dataset.seekTarget = String(ms);
    if (this.#info === undefined) return;
    if (!this.#slate.hidden && this.#slate.dataset.state === 'ended') {
      // The ended slate: the chapter's moment of the whole assembly, as video on demand.
      this.#replaying = true;
      this.#slate.hidden = true;
      this.#play('history', ms);
      return;
    }
    const details = this.#hls?.latestLevelDetails;
    const fragment = details?.fragments.find(
      (f) =>
        f.programDateTime !== null &&
        f.programDateTime <= ms &&
        ms < f.programDateTime + f.duration * 1000,
    );
    if (fragment !== undefined && fragment.programDateTime !== null) {
      this.#video.currentTime = fragment.start + (ms - fragment.programDateTime) / 1000;
      void this.#video.play().catch(() => undefined);
      return;
    }
    this.#play('history', ms);
  }

  #showSlate(state: 'starting' | 'ended', title: string, text: string): void {
    this.#slate.dataset.state = state;
    this.#slateTitle.textContent = title;
    this.#slateText.textContent = text;
    this.#slate.hidden = false;
  }

  /**
   * The ended slate; with the watch URLs it offers to watch the assembly again from the start
   * (the edges keep its history, closed with EXT-X-ENDLIST, until their retention).
   */
  #showEnded(name: string | undefined, info: WatchInfo | undefined): void {
    this.#tearDownPlayer();
    this.#info = info;
    this.#replayButton.hidden = info === undefined;
    this.#overlay.hide();
    this.#showSlate('ended', name ?? '', 'The assembly has ended. Thank you for watching.');
  }

  #scheduleLoad(text: string, delayMs: number): void {
    this.#overlay.show(text, { busy: true });
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#load(), delayMs);
  }

  /** Plays the ended assembly's whole history from its start, as video on demand. */
  #replay(): void {
    if (this.#info === undefined) return;
    this.#replaying = true;
    this.#slate.hidden = true;
    this.#play('history', undefined);
  }

  /**
   * Stops the player and empties the video: no source, no controls, no live or rewind buttons,
   * no chapter polling (an ended assembly, a refused viewer).
   */
  #tearDownPlayer(): void {
    this.#stop();
    clearInterval(this.#chapterTimer);
    this.#replaying = false;
    this.#video.removeAttribute('src');
    this.#video.load();
    this.#video.controls = false;
    this.#liveButton.hidden = true;
    this.#rewindButton.hidden = true;
  }

  #stop(): void {
    clearTimeout(this.#retry);
    this.#hls?.destroy();
    this.#hls = undefined;
  }

  /**
   * The server refuses this viewer for good (the link was revoked or expired, or never let them
   * watch): the player stops, the page asks for nothing more, and says why. Reached from the
   * signaling's word, or from the watch API once the player failed because its last signature
   * lapsed (the signature keeper gets no new one for such a link).
   */
  #refuse(why: string): void {
    this.#tearDownPlayer();
    this.#signatures.stop();
    this.#info = undefined;
    this.#slate.hidden = true;
    this.#overlay.show(`You cannot watch this assembly: ${why}`, { bad: true });
  }

  /**
   * Plays one kind of multivariant playlist; `resumeAt` (a program date, ms) is where to start
   * in it, or undefined for the live edge.
   */
  #play(kind: PlaylistKind, resumeAt: number | undefined): void {
    const info = this.#info;
    if (info === undefined) return;
    this.#stop();
    this.#kind = kind;
    this.#resumeAt = resumeAt;
    this.#video.dataset.playlist = kind;
    const url = kind === 'live' ? info.liveUrl : info.historyUrl;
    if (resumeAt === undefined) this.#overlay.show('Starting the picture…', { busy: true });
    if (Hls.isSupported()) {
      // A replay starts at the beginning; live and history at the live edge or `resumeAt`.
      const hls = new Hls({
        ...PLAYER_CONFIG,
        loader: this.#signatures.loader,
        ...(this.#replaying ? { startPosition: 0 } : {}),
      });
      this.#hls = hls;
      hls.on(Events.MANIFEST_PARSED, () => {
        this.#attempt = 0;
        this.#mediaRecoveries = 0;
        this.#startPlayback();
      });
      hls.on(Events.LEVEL_LOADED, (_event, data) => {
        const target = this.#resumeAt;
        if (target === undefined) return;
        this.#resumeAt = undefined;
        const first = data.details.fragments[0];
        if (first?.programDateTime === null || first?.programDateTime === undefined) return;
        const position = first.start + (target - first.programDateTime) / 1000;
        // Restarting the load there makes hls.js fetch that fragment first and seek to it once
        // buffered (a plain seek now would be undone by its own start at the live edge).
        hls.startLoad(Math.max(first.start, Math.min(position, data.details.edge)));
      });
      hls.on(Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === ErrorTypes.MEDIA_ERROR && this.#mediaRecoveries++ < 2) {
          hls.recoverMediaError();
          return;
        }
        this.#stop();
        if (this.#replaying) {
          // The edges no longer have it (retention deleted it) or cannot be reached.
          this.#overlay.show(
            `The assembly cannot be watched again: ${data.details} (${data.response?.code ?? 'no answer'}).`,
            { bad: true },
          );
          return;
        }
        // Every edge failed (each was tried in the steering manifest's order): ask again.
        this.#scheduleLoad('Connection lost, retrying…', retryDelayMs(this.#attempt++));
      });
      hls.loadSource(url);
      hls.attachMedia(this.#video);
    } else if (this.#video.canPlayType('application/vnd.apple.mpegurl') !== '') {
      // Safari follows the content steering of the multivariant playlist itself.
      this.#video.src = url;
      if (resumeAt !== undefined) {
        this.#video.addEventListener(
          'loadedmetadata',
          () => {
            const start = this.#nativeStartDate();
            if (start !== undefined) this.#video.currentTime = (resumeAt - start) / 1000;
          },
          { once: true },
        );
      }
      this.#video.addEventListener(
        'error',
        () => this.#scheduleLoad('Connection lost, retrying…', retryDelayMs(this.#attempt++)),
        { once: true },
      );
      this.#startPlayback();
    } else {
      this.#overlay.show(
        'This browser cannot play the assembly. Try a current Chrome, Firefox or Safari.',
        {
          bad: true,
        },
      );
    }
  }

  /** Safari's program date of position 0 (HTMLMediaElement.getStartDate), in ms. */
  #nativeStartDate(): number | undefined {
    const video = this.#video as HTMLVideoElement & { getStartDate?: () => Date };
    const time = video.getStartDate?.().getTime();
    return time === undefined || Number.isNaN(time) ? undefined : time;
  }

  /** The program date (ms) of what is on screen now. */
  #playingDate(): number | undefined {
    const date = this.#hls?.playingDate?.getTime();
    if (date !== undefined) return date;
    const start = this.#nativeStartDate();
    return start === undefined ? undefined : start + this.#video.currentTime * 1000;
  }

  /**
   * Goes back `seconds`: within the playlist when it reaches that far, otherwise by switching to
   * the whole assembly's playlist at the same program date.
   */
  #rewind(seconds: number): void {
    const seekable = this.#video.seekable;
    const start = seekable.length > 0 ? seekable.start(0) : this.#video.currentTime;
    const target = this.#video.currentTime - seconds;
    if (this.#kind === 'history' || target >= start) {
      this.#video.currentTime = Math.max(start, target);
      return;
    }
    const date = this.#playingDate();
    this.#play('history', date === undefined ? undefined : date - seconds * 1000);
  }

  /**
   * Plays, or asks for a tap where the browser blocks autoplay with sound. The tap may come
   * minutes later, so it starts at the live edge, not where the page stopped loading.
   */
  #startPlayback(): void {
    this.#video.play().catch(() => {
      this.#overlay.show('The assembly is live.', {
        action: {
          label: '▶ Play',
          run: () => {
            const edge =
              this.#kind === 'live' && this.#resumeAt === undefined ? this.#liveEdge() : undefined;
            if (edge !== undefined) this.#video.currentTime = Math.max(0, edge - 1);
            this.#video.play().catch((error: unknown) => {
              this.#overlay.show(`Cannot play: ${errorMessage(error)}`, { bad: true });
            });
          },
        },
      });
    });
  }

  /** The newest position that can be played, or undefined before anything loaded. */
  #liveEdge(): number | undefined {
    const sync = this.#hls?.liveSyncPosition;
    if (sync !== undefined && sync !== null) return sync;
    const seekable = this.#video.seekable;
    return seekable.length > 0 ? seekable.end(seekable.length - 1) : undefined;
  }

  /**
   * How far behind the live edge the picture is, in seconds, and the playlist's target duration:
   * the program date of the end of the newest playlist (its last fragment's
   * EXT-X-PROGRAM-DATE-TIME plus its duration) minus the program date on screen. Undefined for a
   * playlist that has ended (VOD) and before anything plays. Without program dates (Safari's
   * own player) the end of the seekable range stands in for the edge.
   */
  #distanceFromLive(): { behind: number; target: number } | undefined {
    const details = this.#hls?.latestLevelDetails;
    if (details !== undefined && details !== null) {
      if (!details.live) return undefined;
      const last = details.fragments[details.fragments.length - 1];
      const playing = this.#hls?.playingDate?.getTime();
      if (
        last?.programDateTime !== null &&
        last?.programDateTime !== undefined &&
        playing !== undefined
      ) {
        const edgeDate = last.programDateTime + last.duration * 1000;
        return { behind: Math.max(0, (edgeDate - playing) / 1000), target: details.targetduration };
      }
    }
    const edge = this.#liveEdge();
    if (edge === undefined || this.#hls !== undefined) return undefined;
    return { behind: Math.max(0, edge - this.#video.currentTime), target: 2 };
  }

  /**
   * The live indicator: "● LIVE" only within two target durations of the live edge, otherwise
   * "N s behind · Go live". Averaged over the last few seconds (see BEHIND_WINDOW_MS).
   */
  #updateLive(): void {
    const playing = this.#playingDate();
    if (playing !== undefined) this.#video.dataset.programDate = String(playing);
    this.#placeChapters();
    if (playing !== undefined) this.#replayReactions(playing);
    const distance = this.#video.readyState === 0 ? undefined : this.#distanceFromLive();
    if (distance === undefined) {
      this.#liveButton.hidden = true;
      this.#rewindButton.hidden = this.#video.readyState === 0 || this.#liveEdge() === undefined;
      return;
    }
    const now = Date.now();
    this.#behindSamples.push({ at: now, seconds: distance.behind });
    this.#behindSamples = this.#behindSamples.filter((s) => now - s.at <= BEHIND_WINDOW_MS);
    const behind =
      this.#behindSamples.reduce((sum, s) => sum + s.seconds, 0) / this.#behindSamples.length;
    this.#rewindButton.hidden = false;
    const atEdge = behind <= 2 * distance.target;
    this.#liveButton.hidden = false;
    this.#liveButton.classList.toggle('onair', atEdge);
    this.#liveButton.dataset.live = String(atEdge);
    this.#liveButton.dataset.behind = behind.toFixed(1);
    this.#liveButton.dataset.target = String(distance.target);
    if (atEdge) {
      this.#liveButton.textContent = '● LIVE';
      this.#liveButton.setAttribute('aria-label', 'Watching live');
      return;
    }
    const whole = Math.round(behind);
    const text =
      whole < 60
        ? `${whole} s`
        : `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
    this.#liveButton.textContent = `${text} behind · Go live ›`;
    this.#liveButton.setAttribute(
      'aria-label',
      `${Math.floor(whole / 60)} minutes ${whole % 60} seconds behind live; go to live`,
    );
  }

  #goLive(): void {
    if (this.#kind === 'history') {
      // Back to the short live playlist, which starts at the live edge.
      this.#play('live', undefined);
      return;
    }
    const edge = this.#liveEdge();
    if (edge === undefined) return;
    this.#video.currentTime = Math.max(0, edge - 1);
    void this.#video.play().catch(() => undefined);
    this.#updateLive();
  }

  async #react(reaction: Reaction): Promise<void> {
    if (!this.#limiter.take()) {
      this.#restReactions();
      return;
    }
    this.#floaters.spawn(reaction);
    this.#ownSinceTick.set(reaction, (this.#ownSinceTick.get(reaction) ?? 0) + 1);
    // Stored at the moment on screen, so that whoever watches that moment later sees it.
    const at = this.#playingDate();
    try {
      await request(
        this.#socket,
        'reaction:send',
        at === undefined ? { reaction } : { reaction, at: Math.round(at) },
      );
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'rate_limited'
          ? 'Too many reactions — wait a moment.'
          : `Your reaction was not sent: ${errorMessage(error)}`;
      this.#reactionNotice.show(why, 'warn', 4000);
    }
  }

  /** Disables the buttons until the limiter allows another reaction. */
  #restReactions(): void {
    this.#reactionNotice.show(
      'Too many reactions — wait a moment.',
      'warn',
      this.#limiter.waitMs + 500,
    );
    for (const button of this.#reactionButtons.values()) button.disabled = true;
    setTimeout(() => this.#updateReactionButtons(), this.#limiter.waitMs);
  }

  #updateReactionButtons(): void {
    const connected = this.#socket.connected;
    for (const button of this.#reactionButtons.values()) {
      button.disabled = !connected;
      button.title = connected
        ? (button.getAttribute('aria-label') ?? '')
        : 'Reactions are back when the connection is';
    }
  }
}

new WatchPage();
