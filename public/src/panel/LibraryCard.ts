/** The media library: the videos a presenter can inject, and an upload with progress. */
import type { LibraryVideoWire } from '../../../server/signaling/events.js';
import { upload } from '../lib/api.js';
import { request, RequestError, type SignalingSocket } from '../lib/connect.js';
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
  readonly #file = h('input', { type: 'file', id: 'library-file', accept: 'video/*' });
  readonly #upload = h('button', { type: 'button', class: 'primary' }, 'Upload');
  readonly #progress = h('progress', {
    id: 'upload-progress',
    max: 1,
    value: 0,
    hidden: true,
    'aria-label': 'Upload progress',
  });
  readonly #notice = new Notice();

  constructor(assemblyId: string, socket: SignalingSocket) {
    this.#assemblyId = assemblyId;
    this.#socket = socket;
    this.#upload.addEventListener('click', () => this.#startUpload());
    this.element = card(
      'library',
      'Video library',
      this.#list,
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
      videos = (await request(this.#socket, 'library:list', {})).videos;
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
        ? videos.map((video) =>
            h(
              'li',
              { 'data-video': video.name },
              h('span', { class: 'grow' }, `🎞 ${video.name}`),
              // What the server's probe read from the file: its length and picture size.
              h('span', { class: 'clip-info' }, clipInfo(video)),
            ),
          )
        : [h('li', { class: 'empty' }, 'No videos yet. Upload one below.')]),
    );
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
