/**
 * The presenter's studio: a sub-second WebRTC monitor of the program, buttons that cut it to
 * the composite, to one camera or to a library video, the injected video's progress, and the
 * audience's reactions floating over the monitor. The presenter sees which source is on air by
 * the pressed button and the label over the monitor; the server goes back to the composite by
 * itself when a video ends and says so with `program:changed`. Preview and take (a multiview
 * of every source, a preview monitor, Take and the keyboard) live in studio/StudioPreview.ts.
 */
import './lib/style.css';
import type { CutRequest, LibraryVideoWire, ProgramWire } from '../../server/signaling/events.js';
import { connect, request, RequestError, type SignalingSocket } from './lib/connect.js';
import { appRoot, errorMessage, formatDuration, h, Notice, replaceChildren } from './lib/dom.js';
import { ProgramMonitor } from './lib/monitor.js';
import { CameraRoster, describeProgram, videoOf } from './lib/program.js';
import { PhaseControl } from './lib/phase.js';
import {
  followReactionTotals,
  listenForReactions,
  ReactionFloaters,
  ReactionTotals,
} from './lib/reactions.js';
import { StudioPreview } from './studio/StudioPreview.js';

class StudioPage {
  readonly #socket: SignalingSocket;
  readonly #monitor: ProgramMonitor;
  readonly #preview: StudioPreview;
  readonly #roster = new CameraRoster();
  readonly #floaters = new ReactionFloaters();
  readonly #phase: PhaseControl;
  readonly #totals = new ReactionTotals();
  readonly #programLabel = h('span', { class: 'badge', id: 'program-label' }, 'PROGRAM');
  readonly #nowShowing = h('p', { id: 'now-showing', class: 'muted', 'aria-live': 'polite' });
  readonly #progressRow = h('div', { class: 'progress-row', hidden: true });
  readonly #progress = h('progress', {
    id: 'video-progress',
    max: 1,
    value: 0,
    'aria-label': 'Injected video progress',
  });
  readonly #progressText = h('span', {}, '0:00 / 0:00');
  readonly #cameraButtons = h('div', { class: 'sources', id: 'camera-sources' });
  readonly #videoButtons = h('div', { class: 'sources', id: 'video-sources' });
  readonly #compositeButton = h(
    'button',
    { type: 'button', id: 'cut-composite', 'aria-pressed': 'false' },
    'All cameras',
  );
  readonly #libraryRefresh = h('button', { type: 'button', class: 'small' }, 'Refresh');
  readonly #libraryNotice = new Notice();
  readonly #cutNotice = new Notice('assertive');
  #program: ProgramWire = { kind: 'composite' };
  /** undefined until library:list answered. */
  #videos: LibraryVideoWire[] | undefined;
  #cutting = false;
  /** The last library:list failed (its notice says why). */
  #libraryFailed = false;

  constructor() {
    this.#socket = connect();
    this.#monitor = new ProgramMonitor(this.#socket);
    this.#phase = new PhaseControl(this.#socket);
    this.#phase.onPhase = () => this.#updateOnAir();
    this.#monitor.element.append(this.#programLabel, this.#floaters.element);

    this.#socket.on('welcome', (welcome) => {
      this.#roster.reset(welcome.participants);
      this.#setProgram(welcome.program);
      void this.#loadLibrary();
    });
    // After the roster's welcome handler, so that its own welcome sees the cameras.
    this.#preview = new StudioPreview(this.#socket, this.#roster);
    this.#render();
    this.#socket.on('participant:joined', (participant) => {
      this.#roster.add(participant);
      this.#renderSources();
      this.#preview.refresh();
    });
    // A camera renamed (or its state changed): every label follows the server's name.
    this.#socket.on('participant:updated', (participant) => {
      this.#roster.add(participant);
      this.#setProgram(this.#program);
    });
    this.#socket.on('participant:left', ({ id }) => {
      if (this.#roster.removeParticipant(id)) {
        this.#renderSources();
        this.#preview.refresh();
      }
    });
    this.#socket.on('program:changed', ({ source }) => this.#setProgram(source));
    // The video on the program failed as it played and the server cut back: say why.
    this.#socket.on('program:failed', ({ message }) =>
      this.#cutNotice.show(message, 'bad', 15_000),
    );
    this.#socket.on('program:progress', ({ positionMs, durationMs }) =>
      this.#setProgress(positionMs, durationMs),
    );
    this.#socket.on('disconnect', () => this.#renderSources());
    listenForReactions(this.#socket, (reaction, count) => this.#floaters.spawn(reaction, count));
    followReactionTotals(this.#socket, this.#totals);
    this.#monitor.onPictureChange = () => this.#updateOnAir();
    this.#compositeButton.addEventListener('click', () => void this.#cut({ source: 'composite' }));
    this.#libraryRefresh.addEventListener('click', () => void this.#loadLibrary());
  }

  #render(): void {
    this.#progressRow.append(this.#progress, this.#progressText);
    replaceChildren(
      appRoot(),
      h(
        'div',
        { class: 'layout two' },
        h(
          'section',
          { class: 'card stack', 'aria-labelledby': 'monitor-title' },
          h('h2', { id: 'monitor-title', class: 'visually-hidden' }, 'Program'),
          this.#phase.element,
          this.#monitor.element,
          this.#progressRow,
          h('div', { class: 'row' }, this.#nowShowing),
          h(
            'div',
            { class: 'row', style: 'justify-content:space-between' },
            this.#totals.element,
            this.#monitor.muteButton,
          ),
        ),
        h(
          'section',
          { class: 'card stack', 'aria-labelledby': 'sources-title' },
          h('h2', { id: 'sources-title' }, 'Cut the program to'),
          this.#cutNotice.element,
          h('div', { class: 'sources' }, this.#compositeButton),
          h('h2', {}, 'Cameras'),
          this.#cameraButtons,
          h(
            'div',
            { class: 'row', style: 'justify-content:space-between' },
            h('h2', { style: 'margin:0' }, 'Videos'),
            this.#libraryRefresh,
          ),
          this.#libraryNotice.element,
          this.#videoButtons,
        ),
        this.#preview.element,
      ),
    );
    this.#setProgram(this.#program);
  }

  #setProgram(program: ProgramWire): void {
    this.#program = program;
    const description = describeProgram(program, this.#roster);
    this.#updateOnAir();
    this.#nowShowing.textContent = `Now on the program: ${description}.`;
    if (program.kind !== 'video') this.#progressRow.hidden = true;
    this.#renderSources();
    this.#preview.setProgram(program);
  }

  /**
   * ON AIR (red) while the monitor shows program frames of a live assembly; REHEARSAL (grey)
   * while backstage, when nothing reaches the audience; PROGRAM (grey) until frames come.
   */
  #updateOnAir(): void {
    const description = describeProgram(this.#program, this.#roster);
    const playing = this.#monitor.playing;
    const backstage = this.#phase.phase === 'backstage';
    const onAir = playing && !backstage;
    this.#programLabel.classList.toggle('onair', onAir);
    this.#programLabel.dataset.onAir = String(onAir);
    const word = onAir ? 'ON AIR' : playing ? 'REHEARSAL' : 'PROGRAM';
    this.#programLabel.textContent = `${word} · ${description}`;
  }

  #setProgress(positionMs: number, durationMs: number): void {
    if (this.#program.kind !== 'video') return;
    this.#progressRow.hidden = false;
    const known = durationMs > 0;
    this.#progress.max = known ? durationMs : 1;
    this.#progress.value = known ? Math.min(positionMs, durationMs) : 0;
    this.#progressText.textContent = `${formatDuration(positionMs)} / ${known ? formatDuration(durationMs) : '–'}`;
    this.#progress.setAttribute('aria-valuetext', this.#progressText.textContent);
  }

  /** Rebuilds the camera and video buttons, pressing the one on air. */
  #renderSources(): void {
    const program = this.#program;
    const enabled = this.#socket.connected && !this.#cutting;
    this.#compositeButton.setAttribute('aria-pressed', String(program.kind === 'composite'));
    this.#compositeButton.disabled = !enabled;

    const cameras = this.#roster.list.map(({ cameraId, label }) => {
      const onAir = program.kind === 'camera' && program.cameraId === cameraId;
      const button = h(
        'button',
        {
          type: 'button',
          'aria-pressed': String(onAir),
          'data-camera': cameraId,
          disabled: !enabled,
        },
        label,
      );
      button.addEventListener('click', () => void this.#cut({ source: 'camera', cameraId }));
      return button;
    });
    replaceChildren(
      this.#cameraButtons,
      ...(cameras.length > 0 ? cameras : [h('p', { class: 'empty' }, 'No camera has joined yet.')]),
    );

    const playing = videoOf(program);
    const videos = (this.#videos ?? []).map((video) => {
      const onAir = program.kind === 'video' && playing === video.name;
      const button = h(
        'button',
        {
          type: 'button',
          'aria-pressed': String(onAir),
          'data-video': video.name,
          title: video.name,
          disabled: !enabled,
        },
        `▶ ${video.name}`,
      );
      button.addEventListener('click', () => void this.#cut({ source: 'video', file: video.name }));
      return button;
    });
    replaceChildren(
      this.#videoButtons,
      ...(videos.length > 0
        ? videos
        : [
            this.#libraryFailed
              ? null
              : h(
                  'p',
                  { class: 'empty' },
                  this.#videos === undefined
                    ? 'Loading the library…'
                    : 'The library has no videos.',
                ),
          ]),
    );
  }

  async #cut(cut: CutRequest): Promise<void> {
    this.#cutting = true;
    this.#renderSources();
    try {
      this.#setProgram(await request(this.#socket, 'program:cut', cut));
      this.#cutNotice.clear();
    } catch (error) {
      this.#cutNotice.show(`Could not cut: ${errorMessage(error)}`, 'bad', 8000);
    } finally {
      this.#cutting = false;
      this.#renderSources();
    }
  }

  async #loadLibrary(): Promise<void> {
    try {
      // The first listing waits for ffprobe/ffmpeg on new clips: a longer bound than usual.
      this.#videos = (await request(this.#socket, 'library:list', {}, 30_000)).videos;
      this.#preview.setVideos(this.#videos);
      this.#libraryFailed = false;
      this.#libraryNotice.clear();
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'The video library is not available yet (no answer from the server).'
          : `The video library could not be loaded: ${errorMessage(error)}`;
      this.#libraryFailed = true;
      this.#libraryNotice.show(why, 'warn');
    }
    this.#renderSources();
  }
}

new StudioPage();
