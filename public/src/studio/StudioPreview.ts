/**
 * Preview and take in the studio, as in vMix or OBS's studio mode: a multiview of every source,
 * a second low-latency monitor showing the assembly's preview bus, and Take, which puts the
 * preview on the program and the former program on the preview. The preview is the server's
 * (one per assembly, shared by every studio): this page asks for changes (`preview:set`,
 * `preview:take`) and shows what the server says (`welcome.preview`, `preview:changed`).
 */
import type {
  CutRequest,
  LayoutWire,
  LibraryVideoWire,
  ProgramWire,
} from '../../../server/signaling/events.js';
import { request, type SignalingSocket } from '../lib/connect.js';
import { errorMessage, h, Notice } from '../lib/dom.js';
import { ProgramMonitor } from '../lib/monitor.js';
import { describeProgram, type CameraRoster } from '../lib/program.js';
import { ThumbnailStore } from '../lib/thumbnails.js';
import { Multiview } from './Multiview.js';
import { installShortcuts } from './shortcuts.js';

export class StudioPreview {
  /** The preview monitor, Take and the multiview, to place on the page. */
  readonly element: HTMLElement;
  readonly #socket: SignalingSocket;
  readonly #roster: CameraRoster;
  readonly #monitor: ProgramMonitor;
  readonly #multiview: Multiview;
  readonly #label = h('span', { class: 'badge preview', id: 'preview-label' }, 'PREVIEW');
  readonly #takeButton = h(
    'button',
    { type: 'button', class: 'primary', id: 'take', 'aria-keyshortcuts': 'Space Enter' },
    'Take',
  );
  readonly #notice = new Notice('assertive');
  #program: ProgramWire = { kind: 'composite' };
  #preview: ProgramWire = { kind: 'composite' };
  #tiles: string[] = [];
  #layout: LayoutWire = 'grid';
  #busy = false;

  constructor(socket: SignalingSocket, roster: CameraRoster) {
    this.#socket = socket;
    this.#roster = roster;
    this.#monitor = new ProgramMonitor(socket, 'Preview monitor', 'preview');
    this.#monitor.element.append(this.#label);
    this.#monitor.element.id = 'preview-monitor';
    this.#multiview = new Multiview(new ThumbnailStore(socket), roster);
    this.#multiview.onPick = (source) => void this.#setPreview(source);
    this.element = h(
      'section',
      { class: 'card stack', 'aria-labelledby': 'preview-title' },
      h('h2', { id: 'preview-title' }, 'Preview'),
      this.#monitor.element,
      h(
        'div',
        { class: 'row', style: 'justify-content:space-between' },
        h('p', { class: 'muted', style: 'margin:0' }, 'Keys: 1–9 preview a source, space takes.'),
        this.#takeButton,
      ),
      this.#notice.element,
      h('h2', {}, 'Sources'),
      this.#multiview.element,
    );

    socket.on('welcome', (welcome) => {
      this.#layout = welcome.assembly.layout;
      this.#tiles = welcome.tiles;
      this.#preview = welcome.preview;
      this.#program = welcome.program;
      this.refresh();
    });
    socket.on('preview:changed', ({ source }) => {
      this.#preview = source;
      this.#show();
    });
    socket.on('tiles:changed', ({ cameraIds }) => {
      this.#tiles = cameraIds;
      this.#multiview.setTiles(this.#tiles, this.#layout);
    });
    socket.on('assembly:updated', (assembly) => {
      this.#layout = assembly.layout;
      this.#multiview.setTiles(this.#tiles, this.#layout);
    });
    socket.on('connect', () => this.#enable());
    socket.on('disconnect', () => this.#enable());
    this.#takeButton.addEventListener('click', () => void this.#take());
    installShortcuts(document, {
      preview: (n) => this.#multiview.pick(n),
      take: () => void this.#take(),
    });
  }

  /** The program changed (the studio hears `program:changed`): its tile is marked. */
  setProgram(program: ProgramWire): void {
    this.#program = program;
    this.#show();
  }

  setVideos(videos: readonly LibraryVideoWire[]): void {
    this.#multiview.setVideos(videos);
  }

  /** Cameras came or went: the multiview lists them again. */
  refresh(): void {
    this.#multiview.render();
    this.#multiview.setTiles(this.#tiles, this.#layout);
    this.#show();
    this.#enable();
  }

  #show(): void {
    this.#multiview.setBuses(this.#program, this.#preview);
    this.#label.textContent = `PREVIEW · ${describeProgram(this.#preview, this.#roster)}`;
  }

  #enable(): void {
    const enabled = this.#socket.connected && !this.#busy;
    this.#takeButton.disabled = !enabled;
    this.#multiview.setEnabled(enabled);
  }

  async #setPreview(source: CutRequest): Promise<void> {
    await this.#run('Could not preview', async () => {
      this.#preview = await request(this.#socket, 'preview:set', source);
    });
  }

  async #take(): Promise<void> {
    if (this.#busy || !this.#socket.connected) return;
    await this.#run('Could not take', async () => {
      const { program, preview } = await request(this.#socket, 'preview:take', {}, 20_000);
      this.#program = program;
      this.#preview = preview;
    });
  }

  /** One request at a time; its failure is said in the notice. */
  async #run(what: string, work: () => Promise<void>): Promise<void> {
    this.#busy = true;
    this.#enable();
    try {
      await work();
      this.#notice.clear();
    } catch (error) {
      this.#notice.show(`${what}: ${errorMessage(error)}`, 'bad', 8000);
    } finally {
      this.#busy = false;
      this.#show();
      this.#enable();
    }
  }
}
