/**
 * The cameras of the assembly, in their places, each with its live thumbnail, its name and state
 * (on air, muted, no picture) and the moderator's controls: rename, mute, put on the program,
 * remove. Names, mutes and picture states are the server's (the roster), so every panel agrees.
 * A removed camera's page stops for good, but the same link opened in a new tab is a new camera:
 * after removing a camera that came from an invite link, the card offers to revoke that link too.
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
  /** The camera whose name is being edited, if any (its row shows a text field). */
  #renaming: string | undefined;
  /** What was typed there: a re-render (a camera's state changed) keeps it, and the focus. */
  #draft: string | undefined;
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
    // The video on the program failed as it played and the server cut back: say why.
    socket.on('program:failed', ({ message }) => this.#notice.show(message, 'bad', 15_000));
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
    const rows = this.#roster.list.map(({ cameraId, label, muted, picture }) => {
      const onProgram = this.#program.kind === 'camera' && this.#program.cameraId === cameraId;
      const mute = h(
        'button',
        {
          type: 'button',
          'aria-pressed': String(muted),
          'aria-label': `${muted ? 'Unmute' : 'Mute'} the microphone of ${label}`,
          title: 'Audio only: the picture stays in the mix',
          disabled: !connected,
        },
        muted ? 'Unmute mic' : 'Mute mic',
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
      const rename = h(
        'button',
        { type: 'button', 'aria-label': `Rename ${label}`, disabled: !connected },
        'Rename',
      );
      rename.addEventListener('click', () => {
        this.#renaming = cameraId;
        this.#draft = label;
        this.render();
      });
      return h(
        'li',
        {
          'data-camera': cameraId,
          'data-picture': picture,
          'aria-current': onProgram ? 'true' : undefined,
        },
        h('img', {
          class: 'thumb',
          'data-thumbnail': cameraId,
          alt: `Live picture of ${label}`,
          width: 160,
          height: 90,
          src: this.#thumbnails.get(cameraId) ?? TRANSPARENT_PIXEL,
        }),
        this.#renaming === cameraId
          ? this.#nameForm(cameraId, label)
          : h(
              'span',
              { class: 'grow' },
              h('strong', { class: 'camera-label' }, label),
              ' ',
              h('span', { class: 'muted small' }, cameraId),
            ),
        onProgram
          ? h('span', { class: 'pill onair' }, 'ON AIR')
          : picture === 'none'
            ? h(
                'span',
                { class: 'pill bad', title: 'Out of the mix until its picture arrives' },
                'no picture',
              )
            : picture === 'waiting'
              ? h('span', { class: 'pill warn' }, 'starting…')
              : h('span', { class: 'pill ok' }, 'connected'),
        muted ? h('span', { class: 'pill warn' }, 'mic muted') : null,
        h('span', { class: 'row' }, rename, mute, cut, remove),
      );
    });
    replaceChildren(
      this.#list,
      ...(rows.length > 0
        ? rows
        : [h('li', { class: 'empty' }, 'No camera has joined yet. Send a camera invite link.')]),
    );
    const editing = this.#list.querySelector<HTMLInputElement>('input.camera-name');
    if (editing !== null && this.#draft !== undefined) {
      editing.focus();
      editing.setSelectionRange(editing.value.length, editing.value.length);
    }
  }

  /** The inline rename field: Enter or Save renames, Escape or Cancel keeps the name. */
  #nameForm(cameraId: string, label: string): HTMLElement {
    const input = h('input', {
      type: 'text',
      class: 'camera-name',
      value: this.#draft ?? label,
      maxlength: 40,
      'aria-label': `New name for ${label}`,
    });
    const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
    const form = h(
      'form',
      { class: 'row grow' },
      input,
      h('button', { type: 'submit', class: 'small primary' }, 'Save'),
      cancel,
    );
    input.addEventListener('input', () => (this.#draft = input.value));
    const close = (): void => {
      this.#renaming = undefined;
      this.#draft = undefined;
      this.render();
    };
    cancel.addEventListener('click', close);
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') close();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (name === '' || name === label) {
        close();
        return;
      }
      void request(this.#socket, 'camera:rename', { cameraId, name }).then(
        () => {
          this.#notice.show(`Renamed to “${name}”.`, 'ok', 3000);
          close();
        },
        (error: unknown) => this.#notice.show(`Could not rename: ${errorMessage(error)}`, 'bad'),
      );
    });
    return form;
  }

  async #mute(cameraId: string, muted: boolean): Promise<void> {
    try {
      // The server's participant:updated shows the new state on every panel, this one included.
      await request(this.#socket, 'camera:mute', { cameraId, muted });
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
