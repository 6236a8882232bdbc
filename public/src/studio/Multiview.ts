/**
 * The studio's multiview: every source the presenter can put on the preview, live, in one grid:
 * the composite, each camera and each library clip. A click (or the digit on a tile) puts that
 * source on the preview; the tiles on the program and on the preview are marked.
 *
 * Nothing here costs the media server anything: cameras show the JPEG thumbnails their pages
 * send every 2 s (server/signaling/thumbnails.ts), the composite is drawn here from those
 * thumbnails arranged as the server arranges its tiles (`tiles` in the welcome and
 * `tiles:changed`, with the assembly's layout), and clips show the first frame the server
 * decoded once per file. A WebRTC stream per source would cost an encoder per source per studio.
 */
import type {
  CutRequest,
  LayoutWire,
  LibraryVideoWire,
  ProgramWire,
} from '../../../server/signaling/events.js';
import { formatDuration, h, replaceChildren } from '../lib/dom.js';
import type { CameraRoster } from '../lib/program.js';
import type { ThumbnailStore } from '../lib/thumbnails.js';
import './multiview.css';

/** The composite drawing's size: twice a camera thumbnail, enough for a 2x2 grid of them. */
const COMPOSITE_WIDTH = 320;
const COMPOSITE_HEIGHT = 180;
/** Where the server puts the second camera in picture-in-picture (AssemblyMedia's PIP_BOX). */
const PIP_BOX = { x: 0.66, y: 0.64, w: 0.3, h: 0.3 };
/** Digits 1 to 9 name the first nine tiles. */
export const MAX_SHORTCUTS = 9;

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One source of the multiview, in its visible order. */
interface Source {
  key: string;
  label: string;
  request: CutRequest;
}

/**
 * Where each tile's picture goes in the composite, as fractions of the frame: the engine's and
 * Kurento's grid (cols = ceil(sqrt n), each 16:9 picture letterboxed in its cell), the first
 * camera full frame for a spotlight, and the second inset for picture-in-picture.
 */
export function compositeRects(layout: LayoutWire, tiles: number): Rect[] {
  if (tiles === 0) return [];
  if (layout === 'spotlight') return [{ x: 0, y: 0, w: 1, h: 1 }];
  if (layout === 'pip') return [{ x: 0, y: 0, w: 1, h: 1 }, PIP_BOX].slice(0, tiles);
  let cols = 1;
  while (cols * cols < tiles) cols++;
  const rows = Math.ceil(tiles / cols);
  return Array.from({ length: tiles }, (_, i) => {
    const cell = { x: (i % cols) / cols, y: Math.floor(i / cols) / rows, w: 1 / cols, h: 1 / rows };
    // A 16:9 picture in a cell of a 16:9 frame: as wide as the cell, centred vertically.
    const height = Math.min(cell.h, cell.w);
    return { x: cell.x, y: cell.y + (cell.h - height) / 2, w: cell.w, h: height };
  });
}

/** The program or preview source as the multiview keys its tiles. */
function keyOf(source: ProgramWire): string {
  switch (source.kind) {
    case 'composite':
      return 'composite';
    case 'camera':
      return `camera:${source.cameraId}`;
    case 'video':
      return `video:${source.name}`;
  }
}

export class Multiview {
  readonly element: HTMLDivElement;
  /** Called when the presenter picks a tile (a click; digits go through `pick`). */
  onPick: ((request: CutRequest) => void) | undefined;
  readonly #thumbnails: ThumbnailStore;
  readonly #roster: CameraRoster;
  readonly #canvas: HTMLCanvasElement;
  /** Each camera's thumbnail <img>, kept across renders so pictures never blink. */
  readonly #images = new Map<string, HTMLImageElement>();
  #sources: Source[] = [];
  #videos: LibraryVideoWire[] = [];
  #tiles: string[] = [];
  #layout: LayoutWire = 'grid';
  #program: ProgramWire = { kind: 'composite' };
  #preview: ProgramWire = { kind: 'composite' };
  #enabled = false;

  constructor(thumbnails: ThumbnailStore, roster: CameraRoster) {
    this.#thumbnails = thumbnails;
    this.#roster = roster;
    this.#canvas = h('canvas', {
      width: COMPOSITE_WIDTH,
      height: COMPOSITE_HEIGHT,
      'data-composite': '',
      'aria-hidden': 'true',
    });
    this.element = h('div', { class: 'multiview', id: 'multiview', role: 'list' });
    thumbnails.onChange = (cameraId, url) => {
      const image = this.#images.get(cameraId);
      if (image !== undefined) image.src = url;
    };
  }

  /** The source the digit `n` (1-based, the visible order) stands for. */
  sourceAt(n: number): CutRequest | undefined {
    return n >= 1 && n <= MAX_SHORTCUTS ? this.#sources[n - 1]?.request : undefined;
  }

  /** Puts the n-th source on the preview, as a click on its tile does. */
  pick(n: number): void {
    const request = this.sourceAt(n);
    if (request !== undefined && this.#enabled) this.onPick?.(request);
  }

  setVideos(videos: readonly LibraryVideoWire[]): void {
    this.#videos = [...videos];
    this.render();
  }

  setTiles(tiles: readonly string[], layout: LayoutWire): void {
    this.#tiles = [...tiles];
    this.#layout = layout;
    this.#drawComposite();
  }

  setBuses(program: ProgramWire, preview: ProgramWire): void {
    this.#program = program;
    this.#preview = preview;
    this.#mark();
  }

  /** Tiles can be picked only while connected and no request is under way. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    for (const button of this.element.querySelectorAll('button')) button.disabled = !enabled;
  }

  /** Rebuilds the tiles: the composite, the cameras (join order), the clips (by name). */
  render(): void {
    const cameras = this.#roster.list;
    this.#thumbnails.keepOnly(cameras.map(({ cameraId }) => cameraId));
    for (const cameraId of this.#images.keys()) {
      if (!cameras.some((camera) => camera.cameraId === cameraId)) this.#images.delete(cameraId);
    }
    this.#sources = [
      { key: 'composite', label: 'Composite', request: { source: 'composite' } },
      ...cameras.map(({ cameraId }) => ({
        key: `camera:${cameraId}`,
        label: this.#roster.label(cameraId),
        request: { source: 'camera', cameraId } as const,
      })),
      ...this.#videos.map((video) => ({
        key: `video:${video.name}`,
        label: video.name,
        request: { source: 'video', file: video.name } as const,
      })),
    ];
    replaceChildren(this.element, ...this.#sources.map((source, i) => this.#tile(source, i + 1)));
    this.#mark();
    this.#drawComposite();
  }

  #tile(source: Source, position: number): HTMLButtonElement {
    const request = source.request;
    let picture: HTMLElement;
    let extra: HTMLElement | null = null;
    if (request.source === 'composite') {
      picture = this.#canvas;
    } else if (request.source === 'camera') {
      picture = this.#cameraImage(request.cameraId);
    } else {
      const video = this.#videos.find((v) => 'file' in request && v.name === request.file);
      picture =
        video?.poster !== null && video?.poster !== undefined
          ? h('img', { src: video.poster, alt: '', 'data-poster': video.name })
          : h('div', { class: 'mv-blank' }, '▶');
      extra = h(
        'span',
        { class: 'mv-duration', 'data-duration': video?.durationMs ?? '' },
        typeof video?.durationMs === 'number' ? formatDuration(video.durationMs) : '–:––',
      );
    }
    const digit = position <= MAX_SHORTCUTS ? String(position) : '';
    const button = h(
      'button',
      {
        type: 'button',
        class: 'mv-tile',
        role: 'listitem',
        'data-source': source.key,
        'aria-keyshortcuts': digit === '' ? undefined : digit,
        title: digit === '' ? source.label : `${source.label} (key ${digit})`,
        disabled: !this.#enabled,
      },
      h('span', { class: 'mv-picture' }, picture),
      digit === '' ? null : h('span', { class: 'mv-key', 'aria-hidden': 'true' }, digit),
      h('span', { class: 'mv-tally', 'aria-hidden': 'true' }),
      h('span', { class: 'mv-name' }, source.label),
      extra,
    );
    button.addEventListener('click', () => this.onPick?.(request));
    // A mouse click leaves the focus where it was, so that space still takes after a click on
    // a tile, as in vMix; someone who tabs to a tile keeps space and enter for that tile.
    button.addEventListener('mousedown', (event) => event.preventDefault());
    return button;
  }

  #cameraImage(cameraId: string): HTMLImageElement {
    let image = this.#images.get(cameraId);
    if (image === undefined) {
      image = h('img', { alt: '', 'data-thumbnail': cameraId });
      const url = this.#thumbnails.get(cameraId);
      if (url !== undefined) image.src = url;
      // The composite is drawn from these pictures: redraw when one changes.
      image.addEventListener('load', () => this.#drawComposite());
      this.#images.set(cameraId, image);
    }
    return image;
  }

  /** Marks the program (red) and preview (green) tiles, and says so to screen readers. */
  #mark(): void {
    const program = keyOf(this.#program);
    const preview = keyOf(this.#preview);
    for (const button of this.element.querySelectorAll<HTMLButtonElement>('button.mv-tile')) {
      const key = button.dataset.source;
      const onProgram = key === program;
      const onPreview = key === preview;
      button.dataset.program = String(onProgram);
      button.dataset.preview = String(onPreview);
      button.setAttribute('aria-pressed', String(onPreview));
      const tally = button.querySelector('.mv-tally');
      if (tally !== null) {
        tally.textContent = [onProgram ? 'PGM' : '', onPreview ? 'PVW' : '']
          .filter(Boolean)
          .join(' ');
      }
    }
  }

  /** Draws the composite from the cameras' latest thumbnails, where the server puts them. */
  #drawComposite(): void {
    const context = this.#canvas.getContext('2d');
    if (context === null) return;
    context.fillStyle = '#000';
    context.fillRect(0, 0, COMPOSITE_WIDTH, COMPOSITE_HEIGHT);
    const rects = compositeRects(this.#layout, this.#tiles.length);
    rects.forEach((rect, i) => {
      const image = this.#images.get(this.#tiles[i] ?? '');
      if (image === undefined || !image.complete || image.naturalWidth === 0) return;
      context.drawImage(
        image,
        rect.x * COMPOSITE_WIDTH,
        rect.y * COMPOSITE_HEIGHT,
        rect.w * COMPOSITE_WIDTH,
        rect.h * COMPOSITE_HEIGHT,
      );
    });
  }
}
