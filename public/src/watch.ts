/**
 * The viewer's watch page: the assembly as HLS from the least-loaded edge (the server hands out
 * the playlist URL), played by hls.js, or natively where the browser plays HLS itself (Safari,
 * iOS). The playlist keeps the whole assembly, so a late viewer can seek back; the live
 * indicator says whether the picture is at the live edge and jumps back to it. Reactions go
 * over signaling, rate-limited here too so a held-down button cannot flood the hall.
 */
import './lib/style.css';
import Hls, { ErrorTypes, Events } from 'hls.js/light';
import { REACTIONS, type Reaction } from '../../server/signaling/events.js';
import { api } from './lib/api.js';
import {
  connect,
  pageAssembly,
  request,
  RequestError,
  type SignalingSocket,
} from './lib/connect.js';
import { appRoot, errorMessage, h, Notice, replaceChildren, VideoOverlay } from './lib/dom.js';
import { ReactionFloaters, REACTION_LOOKS } from './lib/reactions.js';
import { retryDelayMs } from './lib/webrtc.js';

/** How often the page asks again while the assembly has not started. */
const WAITING_POLL_MS = 5000;
/** Behind the live edge by more than this many seconds counts as "behind". */
const MIN_BEHIND_SECONDS = 6;

interface WatchInfo {
  playlistUrl: string;
  live: boolean;
}

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
  readonly #floaters = new ReactionFloaters();
  readonly #liveButton = h(
    'button',
    { type: 'button', class: 'badge', id: 'live-indicator', hidden: true },
    'LIVE',
  );
  readonly #reactionButtons = new Map<Reaction, HTMLButtonElement>();
  readonly #reactionNotice = new Notice();
  readonly #viewers = h('span', { class: 'muted small', id: 'viewer-count' });
  readonly #limiter = new RateLimiter(5, 1500);
  #hls: Hls | undefined;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #mediaRecoveries = 0;

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
    this.#socket.on('disconnect', () => this.#updateReactionButtons());
    this.#socket.on('assembly:deleted', () => {
      this.#stop();
      this.#overlay.show('This assembly was deleted.', { bad: true });
    });

    this.#video.addEventListener('playing', () => this.#overlay.hide());
    // Controls (and with them seeking back) appear once there is a stream to control.
    this.#video.addEventListener('loadedmetadata', () => (this.#video.controls = true));
    this.#video.addEventListener('waiting', () => this.#overlay.show('Buffering…', { busy: true }));
    this.#video.addEventListener('ended', () => this.#overlay.show('The assembly has ended.'));
    this.#video.addEventListener('timeupdate', () => this.#updateLive());
    setInterval(() => this.#updateLive(), 1000);
    this.#liveButton.addEventListener('click', () => this.#goLive());
    void this.#load();
  }

  #render(): void {
    this.#overlay.show('Connecting…', { busy: true });
    const box = h(
      'div',
      { class: 'video-box' },
      this.#video,
      this.#liveButton,
      this.#floaters.element,
      this.#overlay.element,
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
          error.code === 'forbidden')
      ) {
        this.#overlay.show(`You cannot watch this assembly: ${error.message}`, { bad: true });
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
    if (!info.live) {
      this.#scheduleLoad('Waiting for the presenter to start the assembly…', WAITING_POLL_MS);
      return;
    }
    this.#play(info.playlistUrl);
  }

  #scheduleLoad(text: string, delayMs: number): void {
    this.#overlay.show(text, { busy: true });
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#load(), delayMs);
  }

  #stop(): void {
    clearTimeout(this.#retry);
    this.#hls?.destroy();
    this.#hls = undefined;
  }

  #play(playlistUrl: string): void {
    this.#stop();
    this.#overlay.show('Starting the picture…', { busy: true });
    if (Hls.isSupported()) {
      const hls = new Hls({
        // The playlist is an EVENT playlist that grows for the whole assembly: keep all of it
        // seekable and start at the live edge.
        liveDurationInfinity: true,
        backBufferLength: 90,
        // 1.5 s behind the end of the playlist instead of hls.js's three fragments (about 3 s
        // with our 1 s GOPs): 1.5 s closer to live (npm run bench -- g2g), and still half a
        // fragment of margin beyond the one being written.
        liveSyncDuration: 1.5,
        // A viewer who fell behind (a stall, a background tab) catches up by playing slightly
        // faster instead of jumping, so the picture never skips.
        maxLiveSyncPlaybackRate: 1.1,
      });
      this.#hls = hls;
      hls.on(Events.MANIFEST_PARSED, () => {
        this.#attempt = 0;
        this.#mediaRecoveries = 0;
        this.#startPlayback();
      });
      hls.on(Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === ErrorTypes.MEDIA_ERROR && this.#mediaRecoveries++ < 2) {
          hls.recoverMediaError();
          return;
        }
        // A failed edge: ask the server again, which hands out a healthy one.
        this.#stop();
        this.#scheduleLoad('Connection lost, retrying…', retryDelayMs(this.#attempt++));
      });
      hls.loadSource(playlistUrl);
      hls.attachMedia(this.#video);
    } else if (this.#video.canPlayType('application/vnd.apple.mpegurl') !== '') {
      this.#video.src = playlistUrl;
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

  /** Plays, or asks for a tap where the browser blocks autoplay with sound. */
  #startPlayback(): void {
    this.#video.play().catch(() => {
      this.#overlay.show('The assembly is live.', {
        action: {
          label: '▶ Play',
          run: () => {
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

  #updateLive(): void {
    const edge = this.#liveEdge();
    if (edge === undefined || this.#video.readyState === 0) {
      this.#liveButton.hidden = true;
      return;
    }
    const target = this.#hls?.latestLevelDetails?.targetduration ?? 2;
    const behind = edge - this.#video.currentTime;
    const atEdge = behind <= Math.max(MIN_BEHIND_SECONDS, target * 3);
    this.#liveButton.hidden = false;
    this.#liveButton.classList.toggle('onair', atEdge);
    this.#liveButton.dataset.live = String(atEdge);
    if (atEdge) {
      this.#liveButton.textContent = '● LIVE';
      this.#liveButton.setAttribute('aria-label', 'Watching live');
    } else {
      const minutes = Math.floor(behind / 60);
      const seconds = String(Math.floor(behind % 60)).padStart(2, '0');
      this.#liveButton.textContent = `${minutes}:${seconds} behind · Go live ›`;
      this.#liveButton.setAttribute(
        'aria-label',
        `${minutes} minutes ${seconds} seconds behind live; go to live`,
      );
    }
  }

  #goLive(): void {
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
    try {
      await request(this.#socket, 'reaction:send', { reaction });
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
