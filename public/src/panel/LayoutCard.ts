/**
 * The composite's layout: grid, spotlight or picture-in-picture, how many tiles, and which
 * cameras in which order (a box per camera, numbered in the order they were ticked: spotlight
 * shows the first, picture-in-picture the first two). Applied with one `layout:set`.
 */
import type { AssemblyWire, LayoutWire } from '../../../server/signaling/events.js';
import { request, type SignalingSocket } from '../lib/connect.js';
import { errorMessage, h, Notice, replaceChildren } from '../lib/dom.js';
import type { CameraRoster } from '../lib/program.js';
import { card } from './card.js';

const LAYOUT_CHOICES: { value: LayoutWire; label: string }[] = [
  { value: 'grid', label: 'Grid' },
  { value: 'spotlight', label: 'Spotlight' },
  { value: 'pip', label: 'Picture in picture' },
];
/** The server's limit on tiles in the composite (LIMITS.maxTiles). */
const MAX_TILES_LIMIT = 16;

export class LayoutCard {
  readonly element: HTMLElement;
  readonly #socket: SignalingSocket;
  readonly #roster: CameraRoster;
  readonly #layouts = h('fieldset', { class: 'segmented' });
  readonly #maxTiles = h('input', {
    type: 'number',
    id: 'max-tiles',
    min: 1,
    max: MAX_TILES_LIMIT,
    inputmode: 'numeric',
  });
  readonly #apply = h('button', { type: 'button', class: 'primary' }, 'Apply layout');
  readonly #cameraChoice = h('fieldset', { class: 'stack', id: 'layout-cameras' });
  readonly #notice = new Notice();
  /** The cameras the layout shows, in order, as chosen here; null shows every camera. */
  #chosen: string[] | null = null;
  #assembly: AssemblyWire | undefined;

  constructor(socket: SignalingSocket, roster: CameraRoster) {
    this.#socket = socket;
    this.#roster = roster;
    replaceChildren(
      this.#layouts,
      h('legend', {}, 'Layout of the composite'),
      ...LAYOUT_CHOICES.map(({ value, label }) =>
        h('label', {}, h('input', { type: 'radio', name: 'layout', value }), label),
      ),
    );
    this.#apply.addEventListener('click', () => void this.#applyLayout());
    this.element = card(
      'layout',
      'Layout',
      this.#layouts,
      this.#cameraChoice,
      h(
        'div',
        { class: 'row', style: 'align-items:flex-end' },
        h(
          'label',
          { class: 'field', for: 'max-tiles' },
          'Most cameras shown at once',
          this.#maxTiles,
        ),
        this.#apply,
      ),
      this.#notice.element,
    );
  }

  /** The server's layout settings (welcome, assembly:updated). */
  showAssembly(assembly: AssemblyWire): void {
    this.#assembly = assembly;
    for (const radio of this.#layouts.querySelectorAll<HTMLInputElement>('input')) {
      radio.checked = radio.value === assembly.layout;
    }
    if (document.activeElement !== this.#maxTiles) this.#maxTiles.value = String(assembly.maxTiles);
  }

  /** The server's live choice of cameras (null: every camera). */
  showChoice(cameras: string[] | null): void {
    this.#chosen = cameras === null ? null : [...cameras];
    this.render();
  }

  render(): void {
    const chosen = this.#chosen;
    const boxes = this.#roster.list.map(({ cameraId, label }) => {
      const position = chosen === null ? -1 : chosen.indexOf(cameraId);
      const box = h('input', {
        type: 'checkbox',
        value: cameraId,
        checked: chosen === null || position >= 0,
      });
      box.addEventListener('change', () => this.#choose(cameraId, box.checked));
      return h('label', {}, box, position >= 0 ? `${position + 1}. ${label}` : label);
    });
    const every = h(
      'button',
      { type: 'button', class: 'small', disabled: chosen === null },
      'Show every camera',
    );
    every.addEventListener('click', () => {
      this.#chosen = null;
      this.render();
    });
    replaceChildren(
      this.#cameraChoice,
      h('legend', {}, chosen === null ? 'Cameras shown: every camera' : 'Cameras shown, in order'),
      ...(boxes.length > 0 ? boxes : [h('p', { class: 'muted small' }, 'No camera yet.')]),
      every,
    );
  }

  #choose(cameraId: string, on: boolean): void {
    const current = (this.#chosen ?? this.#roster.list.map((camera) => camera.cameraId)).filter(
      (id) => id !== cameraId,
    );
    this.#chosen = on ? [...current, cameraId] : current;
    this.render();
  }

  async #applyLayout(): Promise<void> {
    const checked = this.#layouts.querySelector<HTMLInputElement>('input:checked');
    const layout = (checked?.value ?? this.#assembly?.layout ?? 'grid') as LayoutWire;
    const maxTiles = Number(this.#maxTiles.value);
    if (!Number.isInteger(maxTiles) || maxTiles < 1 || maxTiles > MAX_TILES_LIMIT) {
      this.#notice.show(`Show between 1 and ${MAX_TILES_LIMIT} cameras.`, 'bad');
      this.#maxTiles.focus();
      return;
    }
    // Cameras that left since they were ticked are not sent (the server would refuse them).
    const present = new Set(this.#roster.list.map((camera) => camera.cameraId));
    const cameras = this.#chosen === null ? null : this.#chosen.filter((id) => present.has(id));
    if (cameras !== null && cameras.length === 0) {
      this.#notice.show('Tick at least one camera, or show every camera.', 'bad');
      return;
    }
    try {
      this.showAssembly(await request(this.#socket, 'layout:set', { layout, maxTiles, cameras }));
      this.#notice.show('Layout applied.', 'ok', 3000);
    } catch (error) {
      this.#notice.show(`Could not change the layout: ${errorMessage(error)}`, 'bad');
    }
  }
}
