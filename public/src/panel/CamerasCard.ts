/**
 * The cameras of the assembly, each with its live thumbnail, its state (on air, muted) and the
 * moderator's controls: mute, put on the program, remove. A removed camera's page stops for good,
 * but the same link opened in a new tab is a new camera: after removing a camera that came from
 * an invite link, the card offers to revoke that link too.
 */
import type { ProgramWire } from '../../../server/signaling/events.js';
import { request, type SignalingSocket } from '../lib/connect.js';
import { errorMessage, h, Notice, replaceChildren } from '../lib/dom.js';
import type { CameraRoster } from '../lib/program.js';
import { ThumbnailStore } from '../lib/thumbnails.js';
import { card } from './card.js';

/** Shown until a camera's first thumbnail arrives (the image box stays black meanwhile). */
const TRANSPARENT_PIXEL =
  'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';

export class CamerasCard {
  readonly element: HTMLElement;
  readonly #socket: SignalingSocket;
  readonly #roster: CameraRoster;
  readonly #thumbnails: ThumbnailStore;
  readonly #list = h('ul', { class: 'list', id: 'camera-list', 'aria-label': 'Cameras' });
  readonly #notice = new Notice('assertive');
  readonly #muted = new Map<string, boolean>();
  /** The invite link each camera joined with (the server tells the crew), by camera id. */
  readonly #inviteIds = new Map<string, string>();
  readonly #revokeLink: ((inviteId: string) => Promise<void>) | undefined;
  readonly #removal = h('div', {
    class: 'notice row',
    id: 'removal-notice',
    'data-tone': 'ok',
    'aria-live': 'polite',
    hidden: true,
  });
  #program: ProgramWire = { kind: 'composite' };

  /** `revokeLink` revokes an invite link (the invites card's), for "Also revoke its link". */
  constructor(
    socket: SignalingSocket,
    roster: CameraRoster,
    revokeLink?: (inviteId: string) => Promise<void>,
  ) {
    this.#socket = socket;
    this.#roster = roster;
    this.#revokeLink = revokeLink;
    const remember = (participant: { cameraId?: string; inviteId?: string }): void => {
      if (participant.cameraId !== undefined && participant.inviteId !== undefined) {
        this.#inviteIds.set(participant.cameraId, participant.inviteId);
      }
    };
    socket.on('welcome', (welcome) => welcome.participants.forEach(remember));
    socket.on('participant:joined', remember);
    this.#thumbnails = new ThumbnailStore(socket);
    // A new picture replaces the image's source only; the list is not rebuilt every 2 s.
    this.#thumbnails.onChange = (cameraId, url) => {
      const image = this.#list.querySelector<HTMLImageElement>(
        `img[data-thumbnail="${CSS.escape(cameraId)}"]`,
      );
      if (image !== null) image.src = url;
    };
    this.element = card('cameras', 'Cameras', this.#notice.element, this.#removal, this.#list);
  }

  set program(program: ProgramWire) {
    this.#program = program;
  }

  render(): void {
    const connected = this.#socket.connected;
    this.#thumbnails.keepOnly(this.#roster.list.map(({ cameraId }) => cameraId));
    const rows = this.#roster.list.map(({ cameraId, label }) => {
      const onProgram = this.#program.kind === 'camera' && this.#program.cameraId === cameraId;
      const muted = this.#muted.get(cameraId) === true;
      const mute = h(
        'button',
        {
          type: 'button',
          'aria-pressed': String(muted),
          'aria-label': `${muted ? 'Unmute' : 'Mute'} ${label}`,
          disabled: !connected,
        },
        muted ? 'Unmute' : 'Mute',
      );
      mute.addEventListener('click', () => void this.#mute(cameraId, !muted));
      const cut = h(
        'button',
        {
          type: 'button',
          'aria-label': `Put ${label} on the program`,
          disabled: !connected || onProgram,
        },
        'On program',
      );
      cut.addEventListener('click', () => void this.#cutTo(cameraId));
      const remove = h(
        'button',
        { type: 'button', class: 'danger', 'aria-label': `Remove ${label}`, disabled: !connected },
        'Remove',
      );
      remove.addEventListener('click', () => void this.#remove(cameraId, label));
      return h(
        'li',
        { 'data-camera': cameraId, 'aria-current': onProgram ? 'true' : undefined },
        h('img', {
          class: 'thumb',
          'data-thumbnail': cameraId,
          alt: `Live picture of ${label}`,
          width: 160,
          height: 90,
          src: this.#thumbnails.get(cameraId) ?? TRANSPARENT_PIXEL,
        }),
        h(
          'span',
          { class: 'grow' },
          h('strong', {}, label),
          ' ',
          h('span', { class: 'muted small' }, cameraId),
        ),
        onProgram
          ? h('span', { class: 'pill onair' }, 'ON AIR')
          : h('span', { class: 'pill ok' }, 'connected'),
        muted ? h('span', { class: 'pill warn' }, 'muted') : null,
        h('span', { class: 'row' }, mute, cut, remove),
      );
    });
    replaceChildren(
      this.#list,
      ...(rows.length > 0
        ? rows
        : [h('li', { class: 'empty' }, 'No camera has joined yet. Send a camera invite link.')]),
    );
  }

  async #mute(cameraId: string, muted: boolean): Promise<void> {
    try {
      await request(this.#socket, 'camera:mute', { cameraId, muted });
      this.#muted.set(cameraId, muted);
      this.#notice.clear();
    } catch (error) {
      this.#notice.show(
        `Could not ${muted ? 'mute' : 'unmute'}: ${errorMessage(error)}`,
        'bad',
        8000,
      );
    }
    this.render();
  }

  async #cutTo(cameraId: string): Promise<void> {
    try {
      this.#program = await request(this.#socket, 'program:cut', { source: 'camera', cameraId });
      this.#notice.clear();
    } catch (error) {
      this.#notice.show(`Could not cut: ${errorMessage(error)}`, 'bad', 8000);
    }
    this.render();
  }

  async #remove(cameraId: string, label: string): Promise<void> {
    if (!confirm(`Remove ${label} from the assembly?`)) return;
    try {
      await request(this.#socket, 'camera:remove', { cameraId });
    } catch (error) {
      this.#notice.show(`Could not remove ${label}: ${errorMessage(error)}`, 'bad', 8000);
      return;
    }
    this.#notice.clear();
    this.#showRemoved(label, this.#inviteIds.get(cameraId));
  }

  /**
   * Says the camera was removed and, when it came from an invite link, offers to revoke that link
   * (its page cannot come back, but the link would still open a new camera).
   */
  #showRemoved(label: string, inviteId: string | undefined): void {
    const revokeLink = this.#revokeLink;
    if (inviteId === undefined || revokeLink === undefined) {
      replaceChildren(this.#removal, h('span', { class: 'grow' }, `${label} was removed.`));
      this.#removal.dataset.tone = 'ok';
      this.#removal.hidden = false;
      return;
    }
    const text = h(
      'span',
      { class: 'grow' },
      `${label} was removed. Its link still lets a new tab join as another camera.`,
    );
    const revoke = h('button', { type: 'button', class: 'small danger' }, 'Also revoke its link');
    const dismiss = h('button', { type: 'button', class: 'small' }, 'Keep the link');
    revoke.addEventListener('click', () => {
      revoke.disabled = true;
      revokeLink(inviteId).then(
        () => {
          replaceChildren(
            this.#removal,
            h('span', { class: 'grow' }, `${label}’s link was revoked too.`),
          );
          this.#removal.dataset.tone = 'ok';
        },
        (error: unknown) => {
          revoke.disabled = false;
          text.textContent = `Could not revoke ${label}’s link: ${errorMessage(error)}`;
          this.#removal.dataset.tone = 'bad';
        },
      );
    });
    dismiss.addEventListener('click', () => (this.#removal.hidden = true));
    replaceChildren(this.#removal, text, revoke, dismiss);
    this.#removal.dataset.tone = 'ok';
    this.#removal.hidden = false;
  }
}
