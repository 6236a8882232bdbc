/**
 * The media library: the videos a presenter can inject, each with its length and first frame,
 * a preview in the card's own player and Delete; and an upload with progress. It says whose
 * library it is (this assembly's alone, or the school's, which every assembly shares), since a
 * delete in a shared library takes the clip away from everyone.
 */
import type { LibraryVideoWire } from '../../../server/signaling/events.js';
import { api, upload } from '../lib/api.js';
import { pageToken, request, RequestError, type SignalingSocket } from '../lib/connect.js';
import { errorMessage, formatDuration, h, Notice, replaceChildren } from '../lib/dom.js';
import { card } from './card.js';

export class LibraryCard {
  readonly element: HTMLElement;
  readonly #assemblyId: string;
  readonly #socket: SignalingSocket;
  readonly #list = h(
    'ul',
    { class: 'list', id: 'library-list', 'aria-label': 'Videos' },
    h('li', { class: 'empty' }, 'Loading the library…'),
  );
  readonly #scope = h('p', { class: 'muted small', id: 'library-scope' });
  readonly #file = h('input', { type: 'file', id: 'library-file', accept: 'video/*' });
  readonly #upload = h('button', { type: 'button', class: 'primary' }, 'Upload');
  readonly #progress = h('progress', {
    id: 'upload-progress',
    max: 1,
    value: 0,
    hidden: true,
    'aria-label': 'Upload progress',
  });
  readonly #player = h('video', {
    id: 'library-player',
    class: 'archive-player',
    controls: true,
    preload: 'metadata',
    playsinline: true,
    hidden: true,
    'aria-label': 'Video preview',
  });
  readonly #notice = new Notice();

  constructor(assemblyId: string, socket: SignalingSocket) {
    this.#assemblyId = assemblyId;
    this.#socket = socket;
    this.#upload.addEventListener('click', () => this.#startUpload());
    this.element = card(
      'library',
      'Video library',
      this.#scope,
      this.#list,
      this.#player,
      h(
        'div',
        { class: 'row', style: 'align-items:flex-end' },
        h('label', { class: 'field', for: 'library-file' }, 'Add a video', this.#file),
        this.#upload,
      ),
      this.#progress,
      this.#notice.element,
    );
  }

  async load(): Promise<void> {
    let videos: LibraryVideoWire[];
    try {
      // A listing waits for ffprobe/ffmpeg on new clips (a fresh upload is one): the studio's
      // longer bound, not the usual 10 s, which a busy machine passes.
      const library = await request(this.#socket, 'library:list', {}, 30_000);
      videos = library.videos;
      this.#scope.textContent =
        library.scope === 'assembly'
          ? "This assembly's own videos: other assemblies neither see nor change them."
          : "The school's library, shared by every assembly: an upload or a delete here is seen by all.";
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'The library is not available yet (no answer from the server).'
          : `The library could not be loaded: ${errorMessage(error)}`;
      replaceChildren(this.#list, h('li', { class: 'empty' }, why));
      return;
    }
    replaceChildren(
      this.#list,
      ...(videos.length > 0
        ? videos.map((video) => this.#row(video))
        : [h('li', { class: 'empty' }, 'No videos yet. Upload one below.')]),
    );
  }

  #fileUrl(name: string): string {
    return (
      `/api/assemblies/${encodeURIComponent(this.#assemblyId)}/library/` + encodeURIComponent(name)
    );
  }

  #row(video: LibraryVideoWire): HTMLLIElement {
    const preview = h('button', { type: 'button', class: 'small' }, 'Preview');
    preview.addEventListener('click', () => {
      this.#player.hidden = false;
      this.#player.src = `${this.#fileUrl(video.name)}?token=${encodeURIComponent(pageToken())}`;
      void this.#player.play().catch(() => undefined);
    });
    const remove = h('button', { type: 'button', class: 'small danger' }, 'Delete');
    remove.addEventListener('click', () => void this.#delete(video.name));
    return h(
      'li',
      { 'data-video': video.name },
      video.poster === null
        ? h('span', { class: 'thumb clip-thumb', 'aria-hidden': 'true' }, '🎞')
        : h('img', { class: 'thumb clip-thumb', src: video.poster, alt: '' }),
      h(
        'span',
        { class: 'grow' },
        video.name,
        h('br', {}),
        h(
          'span',
          { class: 'muted small clip-duration clip-info' },
          // What the server's probe read from the file: its length and picture size.
          clipInfo(video),
        ),
      ),
      preview,
      remove,
    );
  }

  async #delete(name: string): Promise<void> {
    if (!window.confirm(`Delete ${name} from the library?`)) return;
    try {
      await api('DELETE', this.#fileUrl(name));
      if (this.#player.src.includes(encodeURIComponent(name))) {
        this.#player.removeAttribute('src');
        this.#player.load();
        this.#player.hidden = true;
      }
      this.#notice.show(`${name} deleted.`, 'ok', 4000);
    } catch (error) {
      this.#notice.show(`Could not delete ${name}: ${errorMessage(error)}`, 'bad');
    }
    await this.load();
  }

  #startUpload(): void {
    const file = this.#file.files?.[0];
    if (file === undefined) {
      this.#notice.show('Choose a video file first.', 'warn');
      this.#file.focus();
      return;
    }
    this.#upload.disabled = true;
    this.#progress.hidden = false;
    this.#progress.value = 0;
    this.#notice.show(`Uploading ${file.name}… 0%`);
    const { done } = upload(`/api/assemblies/${this.#assemblyId}/library`, file, (fraction) => {
      this.#progress.value = fraction;
      this.#notice.show(`Uploading ${file.name}… ${Math.round(fraction * 100)}%`);
    });
    done
      .then(() => {
        this.#notice.show(`${file.name} uploaded.`, 'ok', 5000);
        this.#file.value = '';
        return this.load();
      })
      .catch((error: unknown) => {
        this.#notice.show(`Upload failed: ${errorMessage(error)}`, 'bad');
      })
      .finally(() => {
        this.#upload.disabled = false;
        this.#progress.hidden = true;
      });
  }
}

/** "0:04 · 640×360", from the library listing's probe ("unreadable" when it found nothing). */
function clipInfo(video: LibraryVideoWire): string {
  const parts = [
    video.durationMs === null ? null : formatDuration(video.durationMs),
    video.width === null || video.height === null ? null : `${video.width}×${video.height}`,
  ].filter((part) => part !== null);
  return parts.length > 0 ? parts.join(' · ') : 'unreadable';
}
