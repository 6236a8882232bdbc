/**
 * The moderator's control panel: the assemblies (list, create), the program monitor with the
 * audience (viewer count, reactions), the cameras with their state (mute, remove, put on the
 * program), the composite layout, recording, invite links and the video library (upload with
 * progress). A moderator's token covers one assembly; an operator's covers all of them, so an
 * operator picks one (`&assembly=ID` in the URL) before the panel connects to it.
 */
import './lib/style.css';
import type {
  AssemblyWire,
  LayoutWire,
  LibraryVideoWire,
  ProgramWire,
} from '../../server/signaling/events.js';
import { api, upload } from './lib/api.js';
import {
  connect,
  pageAssembly,
  pageToken,
  request,
  RequestError,
  setAssemblyName,
  setStatus,
  type SignalingSocket,
} from './lib/connect.js';
import { appRoot, copyText, errorMessage, h, Notice, replaceChildren } from './lib/dom.js';
import { ProgramMonitor } from './lib/monitor.js';
import { CameraRoster, describeProgram } from './lib/program.js';
import { listenForReactions, ReactionTotals } from './lib/reactions.js';
import { ThumbnailStore } from './lib/thumbnails.js';

const LAYOUT_CHOICES: { value: LayoutWire; label: string }[] = [
  { value: 'grid', label: 'Grid' },
  { value: 'spotlight', label: 'Spotlight' },
  { value: 'pip', label: 'Picture in picture' },
];
const INVITE_ROLES = [
  { value: 'camera', label: 'Camera' },
  { value: 'presenter', label: 'Presenter' },
  { value: 'viewer', label: 'Viewer' },
  { value: 'moderator', label: 'Moderator' },
] as const;
/** The server's limit on tiles in the composite (LIMITS.maxTiles). */
const MAX_TILES_LIMIT = 16;

interface InviteView {
  id: string;
  role: string;
  url: string;
  expiresAt: string;
}

/** Shown until a camera's first thumbnail arrives (the image box stays black meanwhile). */
const TRANSPARENT_PIXEL =
  'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';

function card(id: string, title: string, ...children: (Node | null)[]): HTMLElement {
  return h(
    'section',
    { class: 'card stack', 'aria-labelledby': `${id}-title`, id },
    h('h2', { id: `${id}-title` }, title),
    ...children,
  );
}

/** A link with Copy and Open buttons. */
function linkRow(label: string, url: string): HTMLLIElement {
  const copy = h(
    'button',
    { type: 'button', class: 'small', 'aria-label': `Copy ${label} link` },
    'Copy',
  );
  copy.addEventListener('click', () => {
    void copyText(url).then((ok) => {
      copy.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (copy.textContent = 'Copy'), 2000);
    });
  });
  return h(
    'li',
    {},
    h('span', { class: 'pill' }, label),
    h('span', { class: 'grow link-text', title: url }, url),
    copy,
    h('a', { class: 'button small', href: url, target: '_blank', rel: 'noopener' }, 'Open'),
  );
}

class PanelPage {
  readonly #assemblyId: string;
  readonly #socket: SignalingSocket;
  readonly #monitor: ProgramMonitor;
  readonly #thumbnails: ThumbnailStore;
  readonly #roster = new CameraRoster();
  readonly #muted = new Map<string, boolean>();
  readonly #totals = new ReactionTotals();
  readonly #viewerCount = h('span', { class: 'big-number', id: 'viewer-count' }, '–');
  readonly #programText = h('p', { class: 'muted', 'aria-live': 'polite' });
  readonly #cameraList = h('ul', { class: 'list', id: 'camera-list', 'aria-label': 'Cameras' });
  readonly #cameraNotice = new Notice('assertive');
  readonly #layoutFieldset = h('fieldset', { class: 'segmented' });
  readonly #maxTiles = h('input', {
    type: 'number',
    id: 'max-tiles',
    min: 1,
    max: MAX_TILES_LIMIT,
    inputmode: 'numeric',
  });
  readonly #layoutApply = h('button', { type: 'button', class: 'primary' }, 'Apply layout');
  readonly #cameraChoice = h('fieldset', { class: 'stack', id: 'layout-cameras' });
  /** The cameras the layout shows, in order, as chosen here; null shows every camera. */
  #chosen: string[] | null = null;
  readonly #layoutNotice = new Notice();
  readonly #recordButton = h(
    'button',
    { type: 'button', id: 'recording-toggle', 'aria-pressed': 'false' },
    'Start recording',
  );
  readonly #recordNotice = new Notice();
  readonly #inviteRole = h('select', { id: 'invite-role' });
  readonly #inviteButton = h('button', { type: 'button', class: 'primary' }, 'Create link');
  readonly #inviteList = h('ul', {
    class: 'list',
    id: 'invite-list',
    'aria-label': 'Invite links',
  });
  readonly #inviteNotice = new Notice();
  readonly #libraryList = h(
    'ul',
    { class: 'list', id: 'library-list', 'aria-label': 'Videos' },
    h('li', { class: 'empty' }, 'Loading the library…'),
  );
  readonly #fileInput = h('input', { type: 'file', id: 'library-file', accept: 'video/*' });
  readonly #uploadButton = h('button', { type: 'button', class: 'primary' }, 'Upload');
  readonly #uploadProgress = h('progress', {
    id: 'upload-progress',
    max: 1,
    value: 0,
    hidden: true,
    'aria-label': 'Upload progress',
  });
  readonly #libraryNotice = new Notice();
  #assembly: AssemblyWire | undefined;
  #program: ProgramWire = { kind: 'composite' };

  constructor(assemblyId: string, assemblies: AssembliesCard) {
    this.#assemblyId = assemblyId;
    this.#socket = connect({ assembly: assemblyId });
    this.#monitor = new ProgramMonitor(this.#socket);
    this.#thumbnails = new ThumbnailStore(this.#socket);
    // A new picture replaces the image's source only; the list is not rebuilt every 2 s.
    this.#thumbnails.onChange = (cameraId, url) => {
      const image = this.#cameraList.querySelector<HTMLImageElement>(
        `img[data-thumbnail="${CSS.escape(cameraId)}"]`,
      );
      if (image !== null) image.src = url;
    };
    this.#render(assemblies);

    this.#socket.on('welcome', (welcome) => {
      this.#roster.reset(welcome.participants);
      this.#program = welcome.program;
      // A server from before the choice of cameras sends none: every camera is shown.
      this.#chosen = welcome.layoutCameras ?? null;
      this.#setAssembly(welcome.assembly);
      // A server from before viewer counting sends no figure.
      if (typeof welcome.viewers === 'number') {
        this.#viewerCount.textContent = String(welcome.viewers);
      }
      this.#renderCameras();
      void this.#loadLibrary();
      void this.#loadInvites();
    });
    this.#socket.on('assembly:updated', (assembly) => this.#setAssembly(assembly));
    this.#socket.on('participant:joined', (participant) => {
      this.#roster.add(participant);
      this.#renderCameras();
    });
    this.#socket.on('participant:left', ({ id }) => {
      if (this.#roster.removeParticipant(id)) this.#renderCameras();
    });
    this.#socket.on('program:changed', ({ source }) => {
      this.#program = source;
      this.#renderCameras();
    });
    this.#socket.on('viewers:count', ({ count }) => {
      this.#viewerCount.textContent = String(count);
    });
    this.#socket.on('recording:failed', ({ type, description }) => {
      const why =
        type === 'RESOURCE_ERROR_NO_SPACE_LEFT' ? 'the recordings disk is full' : description;
      this.#recordNotice.show(
        `Recording stopped: ${why}. The assembly goes on; free some space, then start recording again.`,
        'bad',
      );
    });
    this.#socket.on('disconnect', () => this.#renderCameras());
    listenForReactions(this.#socket, (reaction, count) => this.#totals.add(reaction, count));

    this.#layoutApply.addEventListener('click', () => void this.#applyLayout());
    this.#recordButton.addEventListener('click', () => void this.#toggleRecording());
    this.#inviteButton.addEventListener('click', () => void this.#createInvite());
    this.#uploadButton.addEventListener('click', () => this.#upload());
  }

  #render(assemblies: AssembliesCard): void {
    const layoutRadios = LAYOUT_CHOICES.map(({ value, label }) =>
      h('label', {}, h('input', { type: 'radio', name: 'layout', value }), label),
    );
    replaceChildren(
      this.#layoutFieldset,
      h('legend', {}, 'Layout of the composite'),
      ...layoutRadios,
    );
    replaceChildren(
      this.#inviteRole,
      ...INVITE_ROLES.map(({ value, label }) => h('option', { value }, label)),
    );
    this.#monitor.element.append(this.#monitor.muteButton);
    this.#monitor.muteButton.classList.add('badge', 'right');
    this.#monitor.muteButton.style.top = 'auto';
    this.#monitor.muteButton.style.bottom = '0.6rem';

    replaceChildren(
      appRoot(),
      h(
        'div',
        { class: 'layout panel' },
        card(
          'program',
          'Program and audience',
          this.#monitor.element,
          this.#programText,
          h(
            'div',
            { class: 'row', style: 'justify-content:space-between' },
            h('div', {}, h('div', { class: 'muted small' }, 'Viewers'), this.#viewerCount),
            this.#totals.element,
          ),
        ),
        card('cameras', 'Cameras', this.#cameraNotice.element, this.#cameraList),
        card(
          'layout',
          'Layout',
          this.#layoutFieldset,
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
            this.#layoutApply,
          ),
          this.#layoutNotice.element,
        ),
        card(
          'recording',
          'Recording',
          h('div', { class: 'row' }, this.#recordButton),
          this.#recordNotice.element,
        ),
        card(
          'invites',
          'Invite links',
          h(
            'div',
            { class: 'row', style: 'align-items:flex-end' },
            h('label', { class: 'field', for: 'invite-role' }, 'Link for a', this.#inviteRole),
            this.#inviteButton,
          ),
          this.#inviteNotice.element,
          this.#inviteList,
        ),
        card(
          'library',
          'Video library',
          this.#libraryList,
          h(
            'div',
            { class: 'row', style: 'align-items:flex-end' },
            h('label', { class: 'field', for: 'library-file' }, 'Add a video', this.#fileInput),
            this.#uploadButton,
          ),
          this.#uploadProgress,
          this.#libraryNotice.element,
        ),
        assemblies.element,
      ),
    );
    this.#renderCameras();
  }

  #setAssembly(assembly: AssemblyWire): void {
    this.#assembly = assembly;
    setAssemblyName(assembly.name);
    for (const radio of this.#layoutFieldset.querySelectorAll<HTMLInputElement>('input')) {
      radio.checked = radio.value === assembly.layout;
    }
    if (document.activeElement !== this.#maxTiles) this.#maxTiles.value = String(assembly.maxTiles);
    this.#recordButton.setAttribute('aria-pressed', String(assembly.recording));
    this.#recordButton.textContent = assembly.recording ? '● Recording — stop' : 'Start recording';
  }

  #renderCameras(): void {
    this.#programText.textContent = `On the program: ${describeProgram(this.#program, this.#roster)}.`;
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
      this.#cameraList,
      ...(rows.length > 0
        ? rows
        : [h('li', { class: 'empty' }, 'No camera has joined yet. Send a camera invite link.')]),
    );
    this.#renderCameraChoice();
  }

  /**
   * Which cameras the layout shows, in which order: a box per camera, numbered in the order
   * they were ticked (spotlight shows the first, picture-in-picture the first two). Applied with
   * the layout.
   */
  #renderCameraChoice(): void {
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
      this.#renderCameraChoice();
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
    this.#renderCameraChoice();
  }

  async #mute(cameraId: string, muted: boolean): Promise<void> {
    try {
      await request(this.#socket, 'camera:mute', { cameraId, muted });
      this.#muted.set(cameraId, muted);
      this.#cameraNotice.clear();
    } catch (error) {
      this.#cameraNotice.show(
        `Could not ${muted ? 'mute' : 'unmute'}: ${errorMessage(error)}`,
        'bad',
        8000,
      );
    }
    this.#renderCameras();
  }

  async #cutTo(cameraId: string): Promise<void> {
    try {
      this.#program = await request(this.#socket, 'program:cut', { source: 'camera', cameraId });
      this.#cameraNotice.clear();
    } catch (error) {
      this.#cameraNotice.show(`Could not cut: ${errorMessage(error)}`, 'bad', 8000);
    }
    this.#renderCameras();
  }

  async #remove(cameraId: string, label: string): Promise<void> {
    if (!confirm(`Remove ${label} from the assembly?`)) return;
    try {
      await request(this.#socket, 'camera:remove', { cameraId });
      this.#cameraNotice.show(`${label} was removed.`, 'ok', 4000);
    } catch (error) {
      this.#cameraNotice.show(`Could not remove ${label}: ${errorMessage(error)}`, 'bad', 8000);
    }
  }

  async #applyLayout(): Promise<void> {
    const checked = this.#layoutFieldset.querySelector<HTMLInputElement>('input:checked');
    const layout = (checked?.value ?? this.#assembly?.layout ?? 'grid') as LayoutWire;
    const maxTiles = Number(this.#maxTiles.value);
    if (!Number.isInteger(maxTiles) || maxTiles < 1 || maxTiles > MAX_TILES_LIMIT) {
      this.#layoutNotice.show(`Show between 1 and ${MAX_TILES_LIMIT} cameras.`, 'bad');
      this.#maxTiles.focus();
      return;
    }
    // Cameras that left since they were ticked are not sent (the server would refuse them).
    const present = new Set(this.#roster.list.map((camera) => camera.cameraId));
    const cameras = this.#chosen === null ? null : this.#chosen.filter((id) => present.has(id));
    if (cameras !== null && cameras.length === 0) {
      this.#layoutNotice.show('Tick at least one camera, or show every camera.', 'bad');
      return;
    }
    try {
      this.#setAssembly(await request(this.#socket, 'layout:set', { layout, maxTiles, cameras }));
      this.#layoutNotice.show('Layout applied.', 'ok', 3000);
    } catch (error) {
      this.#layoutNotice.show(`Could not change the layout: ${errorMessage(error)}`, 'bad');
    }
  }

  async #toggleRecording(): Promise<void> {
    const on = this.#assembly?.recording !== true;
    this.#recordButton.disabled = true;
    try {
      await request(this.#socket, 'recording:set', { on });
      // The server also sends assembly:updated; this keeps the button right if it does not.
      if (this.#assembly !== undefined) this.#setAssembly({ ...this.#assembly, recording: on });
      this.#recordNotice.show(on ? 'Recording started.' : 'Recording stopped.', 'ok', 4000);
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'the media server is not answering'
          : errorMessage(error);
      this.#recordNotice.show(`Could not ${on ? 'start' : 'stop'} recording: ${why}`, 'bad');
    } finally {
      this.#recordButton.disabled = false;
    }
  }

  async #loadInvites(): Promise<void> {
    try {
      const { invites } = await api<{ invites: InviteView[] }>(
        'GET',
        `/api/assemblies/${this.#assemblyId}/invites`,
      );
      const live = invites
        .filter((invite) => Date.parse(invite.expiresAt) > Date.now())
        .sort((a, b) => a.role.localeCompare(b.role));
      replaceChildren(
        this.#inviteList,
        ...(live.length > 0
          ? live.map((invite) => linkRow(invite.role, invite.url))
          : [h('li', { class: 'empty' }, 'No links yet.')]),
      );
    } catch (error) {
      this.#inviteNotice.show(`Could not list the links: ${errorMessage(error)}`, 'bad');
    }
  }

  async #createInvite(): Promise<void> {
    this.#inviteButton.disabled = true;
    try {
      const { invite } = await api<{ invite: InviteView }>(
        'POST',
        `/api/assemblies/${this.#assemblyId}/invites`,
        { role: this.#inviteRole.value },
      );
      await this.#loadInvites();
      const copied = await copyText(invite.url);
      this.#inviteNotice.show(
        copied ? `New ${invite.role} link created and copied.` : `New ${invite.role} link created.`,
        'ok',
        4000,
      );
    } catch (error) {
      this.#inviteNotice.show(`Could not create the link: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#inviteButton.disabled = false;
    }
  }

  async #loadLibrary(): Promise<void> {
    let videos: LibraryVideoWire[];
    try {
      videos = (await request(this.#socket, 'library:list', {})).videos;
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'The library is not available yet (no answer from the server).'
          : `The library could not be loaded: ${errorMessage(error)}`;
      replaceChildren(this.#libraryList, h('li', { class: 'empty' }, why));
      return;
    }
    replaceChildren(
      this.#libraryList,
      ...(videos.length > 0
        ? videos.map((video) =>
            h('li', { 'data-video': video.name }, h('span', { class: 'grow' }, `🎞 ${video.name}`)),
          )
        : [h('li', { class: 'empty' }, 'No videos yet. Upload one below.')]),
    );
  }

  #upload(): void {
    const file = this.#fileInput.files?.[0];
    if (file === undefined) {
      this.#libraryNotice.show('Choose a video file first.', 'warn');
      this.#fileInput.focus();
      return;
    }
    this.#uploadButton.disabled = true;
    this.#uploadProgress.hidden = false;
    this.#uploadProgress.value = 0;
    this.#libraryNotice.show(`Uploading ${file.name}… 0%`);
    const { done } = upload(`/api/assemblies/${this.#assemblyId}/library`, file, (fraction) => {
      this.#uploadProgress.value = fraction;
      this.#libraryNotice.show(`Uploading ${file.name}… ${Math.round(fraction * 100)}%`);
    });
    done
      .then(() => {
        this.#libraryNotice.show(`${file.name} uploaded.`, 'ok', 5000);
        this.#fileInput.value = '';
        return this.#loadLibrary();
      })
      .catch((error: unknown) => {
        this.#libraryNotice.show(`Upload failed: ${errorMessage(error)}`, 'bad');
      })
      .finally(() => {
        this.#uploadButton.disabled = false;
        this.#uploadProgress.hidden = true;
      });
  }
}

/** The assemblies this token can see, with a form that creates one. */
class AssembliesCard {
  readonly element: HTMLElement;
  readonly #list = h('ul', { class: 'list', id: 'assembly-list', 'aria-label': 'Assemblies' });
  readonly #name = h('input', {
    type: 'text',
    id: 'assembly-name-input',
    maxlength: 200,
    placeholder: 'Friday assembly',
    autocomplete: 'off',
  });
  readonly #create = h('button', { type: 'submit', class: 'primary' }, 'Create');
  readonly #notice = new Notice();
  readonly #created = h('ul', { class: 'list', 'aria-label': 'New assembly link' });
  /** The assembly this panel manages, marked in the list. */
  current: string | undefined;

  constructor(current: string | undefined) {
    this.current = current;
    const form = h(
      'form',
      { class: 'row', style: 'align-items:flex-end' },
      h('label', { class: 'field', for: 'assembly-name-input' }, 'New assembly', this.#name),
      this.#create,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#createAssembly();
    });
    // Operators also run the edge fleet, on its own page.
    const fleet =
      pageAssembly() === '*'
        ? h(
            'div',
            { class: 'row' },
            h(
              'a',
              {
                class: 'button small',
                id: 'edge-fleet-link',
                href: `/operator?token=${encodeURIComponent(pageToken())}`,
              },
              'Edge fleet ›',
            ),
          )
        : null;
    this.element = card(
      'assemblies',
      'Assemblies',
      this.#list,
      form,
      this.#notice.element,
      this.#created,
      fleet,
    );
  }

  /** Loads the list; resolves with the ids, in the server's order. */
  async load(): Promise<AssemblyWire[]> {
    let assemblies: AssemblyWire[];
    try {
      assemblies = (await api<{ assemblies: AssemblyWire[] }>('GET', '/api/assemblies')).assemblies;
    } catch (error) {
      this.#notice.show(`Could not list the assemblies: ${errorMessage(error)}`, 'bad');
      return [];
    }
    const operator = pageAssembly() === '*';
    replaceChildren(
      this.#list,
      ...(assemblies.length > 0
        ? assemblies.map((assembly) => {
            const current = assembly.id === this.current;
            const url = `/panel?token=${encodeURIComponent(pageToken())}&assembly=${encodeURIComponent(assembly.id)}`;
            return h(
              'li',
              { 'aria-current': current ? 'true' : undefined },
              h(
                'span',
                { class: 'grow' },
                h('strong', {}, assembly.name),
                ' ',
                h('span', { class: 'muted small' }, assembly.id),
              ),
              assembly.recording ? h('span', { class: 'pill live' }, 'REC') : null,
              current
                ? h('span', { class: 'pill ok' }, 'open here')
                : operator
                  ? h('a', { class: 'button small', href: url }, 'Manage')
                  : null,
            );
          })
        : [h('li', { class: 'empty' }, 'No assemblies yet.')]),
    );
    return assemblies;
  }

  async #createAssembly(): Promise<void> {
    const name = this.#name.value.trim();
    if (name === '') {
      this.#notice.show('Give the assembly a name.', 'warn');
      this.#name.focus();
      return;
    }
    this.#create.disabled = true;
    try {
      const { assembly, moderatorInvite } = await api<{
        assembly: AssemblyWire;
        moderatorInvite: { url: string };
      }>('POST', '/api/assemblies', { name });
      this.#name.value = '';
      this.#notice.show(`“${assembly.name}” created. Its moderator link:`, 'ok');
      replaceChildren(this.#created, linkRow('moderator', moderatorInvite.url));
      await this.load();
    } catch (error) {
      this.#notice.show(`Could not create the assembly: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#create.disabled = false;
    }
  }
}

async function main(): Promise<void> {
  const tokenAssembly = pageAssembly();
  const operator = tokenAssembly === '*';
  const requested = new URLSearchParams(location.search).get('assembly') ?? undefined;
  const assemblies = new AssembliesCard(operator ? requested : tokenAssembly);
  if (!operator) {
    new PanelPage(tokenAssembly, assemblies);
    await assemblies.load();
    return;
  }
  // An operator's token covers every assembly: open the one in the URL, or the first.
  replaceChildren(appRoot(), h('div', { class: 'layout panel' }, assemblies.element));
  const list = await assemblies.load();
  const chosen = requested ?? list[0]?.id;
  if (chosen === undefined) {
    setStatus('connecting', 'No assembly yet');
    setAssemblyName('Create an assembly to begin');
    return;
  }
  if (requested === undefined) {
    const url = new URL(location.href);
    url.searchParams.set('assembly', chosen);
    history.replaceState(null, '', url);
  }
  assemblies.current = chosen;
  new PanelPage(chosen, assemblies);
  await assemblies.load();
}

void main();
