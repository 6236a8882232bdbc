/**
 * The low-latency program monitor of the studio and the panel: a receive-only WebRTC session
 * (`monitor:offer`, `monitor:candidate`) shown in a <video>, with a state overlay while there is
 * no picture and retries while the media server is unavailable. It (re)starts on every welcome,
 * so it comes back by itself after the signaling connection drops. The studio's preview monitor
 * is the same thing on the preview bus (`preview:offer`, `preview:candidate`, video only).
 */
import { errorMessage, h, VideoOverlay } from './dom.js';
import { request, RequestError, type SignalingSocket } from './connect.js';
import { PeerSession, retryDelayMs } from './webrtc.js';

export class ProgramMonitor {
  /** The .video-box to place on the page; overlays (badges, reactions) may be added to it. */
  readonly element: HTMLDivElement;
  readonly video: HTMLVideoElement;
  readonly overlay = new VideoOverlay();
  readonly muteButton: HTMLButtonElement;
  readonly #socket: SignalingSocket;
  #session: PeerSession | undefined;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  /** Called when program frames start or stop showing (see `playing`). */
  onPictureChange: (() => void) | undefined;

  /** Which bus it shows: the program (picture and sound) or the studio's preview (picture). */
  readonly #bus: 'program' | 'preview';

  constructor(
    socket: SignalingSocket,
    label = 'Program monitor',
    bus: 'program' | 'preview' = 'program',
  ) {
    this.#socket = socket;
    this.#bus = bus;
    this.video = h('video', {
      autoplay: true,
      playsinline: true,
      muted: true,
      'aria-label': label,
    });
    // The attribute sets the default only; autoplay needs the property too.
    this.video.muted = true;
    this.muteButton = h(
      'button',
      { type: 'button', class: 'small', 'aria-pressed': 'false' },
      'Unmute monitor',
    );
    this.muteButton.addEventListener('click', () => {
      this.video.muted = !this.video.muted;
      this.muteButton.textContent = this.video.muted ? 'Unmute monitor' : 'Mute monitor';
    });
    this.element = h('div', { class: 'video-box' }, this.video, this.overlay.element);
    this.overlay.show('Waiting for the connection to the server…', { busy: true });

    if (bus === 'program') {
      socket.on('monitor:candidate', (candidate) => this.#session?.addRemoteCandidate(candidate));
    } else {
      socket.on('preview:candidate', (candidate) => this.#session?.addRemoteCandidate(candidate));
    }
    socket.on('welcome', () => this.start());
    // The media server restarted and rebuilt the assembly: the old session is dead.
    socket.on('media:reset', () => this.start());
    socket.on('disconnect', () => {
      this.stop();
      this.overlay.show('Connection lost, retrying…', { busy: true });
    });
    this.video.addEventListener('playing', () => {
      this.overlay.hide();
      this.onPictureChange?.();
    });
    // Any state message over the picture means the program is not showing.
    new MutationObserver(() => this.onPictureChange?.()).observe(this.overlay.element, {
      attributes: true,
      attributeFilter: ['hidden'],
    });
  }

  /** True once program frames are playing. */
  get playing(): boolean {
    return this.overlay.element.hidden;
  }

  start(): void {
    this.stop();
    this.#running = true;
    this.#attempt = 0;
    void this.#open();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#retry);
    this.#session?.close();
    this.#session = undefined;
  }

  async #open(): Promise<void> {
    this.#session?.close();
    this.overlay.show(`Connecting to the ${this.#bus}…`, { busy: true });
    const candidateEvent = this.#bus === 'program' ? 'monitor:candidate' : 'preview:candidate';
    const offerEvent = this.#bus === 'program' ? 'monitor:offer' : 'preview:offer';
    const session = new PeerSession({
      sendCandidate: (candidate) => {
        request(this.#socket, candidateEvent, candidate).catch((error: unknown) =>
          console.warn(`${candidateEvent} failed`, error),
        );
      },
      onTrack: (event) => {
        const stream = event.streams[0] ?? new MediaStream([event.track]);
        if (this.video.srcObject !== stream) this.video.srcObject = stream;
      },
      onState: (state) => {
        if (state === 'connected') this.#attempt = 0;
        if (state === 'disconnected') {
          this.overlay.show(`The ${this.#bus} connection is interrupted; waiting for it…`, {
            busy: true,
          });
        }
        if (state === 'failed') this.#scheduleRetry(`The ${this.#bus} connection failed.`);
      },
    });
    this.#session = session;
    session.pc.addTransceiver('video', { direction: 'recvonly' });
    // The preview carries no sound: the presenter listens to the program.
    if (this.#bus === 'program') session.pc.addTransceiver('audio', { direction: 'recvonly' });
    try {
      await session.negotiate(
        async (sdp) => (await request(this.#socket, offerEvent, { sdp })).sdp,
      );
      if (!session.closed) {
        this.overlay.show(`Waiting for the ${this.#bus} picture…`, { busy: true });
      }
    } catch (error) {
      if (session.closed) return;
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'The media server is not answering.'
          : `The ${this.#bus} monitor is not available: ${errorMessage(error)}.`;
      this.#scheduleRetry(why);
    }
  }

  #scheduleRetry(why: string): void {
    if (!this.#running) return;
    this.#session?.close();
    this.#session = undefined;
    const delay = retryDelayMs(this.#attempt++);
    this.overlay.show(`${why} Retrying in ${Math.round(delay / 1000)} s.`, {
      action: { label: 'Retry now', run: () => this.start() },
    });
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      if (this.#running && this.#socket.connected) void this.#open();
    }, delay);
  }
}
