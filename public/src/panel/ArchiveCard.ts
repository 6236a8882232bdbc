/**
 * The archive: the assembly's program recordings with their date, duration, size and the day
 * retention deletes them; each plays in the card's own player (seekable: the server answers
 * range requests), downloads, or is deleted by the moderator.
 */
import type { RecordingView } from '../../../server/domain/Archive.js';
import { api } from '../lib/api.js';
import { pageToken } from '../lib/connect.js';
import { errorMessage, formatDuration, h, Notice, replaceChildren } from '../lib/dom.js';
import { card } from './card.js';

/** While a recording is still being finished (probed), the list asks again this often. */
const REFRESH_MS = 4000;

function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

function formatDate(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export class ArchiveCard {
  readonly element: HTMLElement;
  readonly #assemblyId: string;
  readonly #list = h(
    'ul',
    { class: 'list', id: 'archive-list', 'aria-label': 'Recordings' },
    h('li', { class: 'empty' }, 'Loading the recordings…'),
  );
  readonly #player = h('video', {
    id: 'archive-player',
    class: 'archive-player',
    controls: true,
    preload: 'metadata',
    playsinline: true,
    hidden: true,
    'aria-label': 'Recording player',
  });
  readonly #playing = h('p', { class: 'muted small', hidden: true, 'aria-live': 'polite' });
  readonly #notice = new Notice();
  #timer: number | undefined;

  constructor(assemblyId: string) {
    this.#assemblyId = assemblyId;
    const refresh = h('button', { type: 'button', class: 'small' }, 'Refresh');
    refresh.addEventListener('click', () => void this.load());
    this.element = card(
      'archive',
      'Archive',
      this.#list,
      this.#playing,
      this.#player,
      h('div', { class: 'row' }, refresh),
      this.#notice.element,
    );
  }

  #base(): string {
    return `/api/assemblies/${encodeURIComponent(this.#assemblyId)}/recordings`;
  }

  async load(): Promise<void> {
    window.clearTimeout(this.#timer);
    let recordings: RecordingView[];
    try {
      ({ recordings } = await api<{ recordings: RecordingView[] }>('GET', this.#base()));
    } catch (error) {
      replaceChildren(
        this.#list,
        h('li', { class: 'empty' }, `The recordings could not be loaded: ${errorMessage(error)}`),
      );
      return;
    }
    replaceChildren(
      this.#list,
      ...(recordings.length > 0
        ? recordings.map((recording) => this.#row(recording))
        : [h('li', { class: 'empty' }, 'No recordings yet. Turn recording on, then Go live.')]),
    );
    // A recording being recorded or finished gets its duration and size soon.
    if (recordings.some((recording) => recording.state === 'recording')) {
      this.#timer = window.setTimeout(() => void this.load(), REFRESH_MS);
    }
  }

  #row(recording: RecordingView): HTMLLIElement {
    const token = encodeURIComponent(pageToken());
    const base = `${this.#base()}/${encodeURIComponent(recording.id)}`;
    const finished = recording.state === 'finished';
    const facts = finished
      ? [
          recording.durationMs === null ? 'length unknown' : formatDuration(recording.durationMs),
          recording.sizeBytes === null ? 'size unknown' : formatSize(recording.sizeBytes),
        ].join(' · ')
      : '● recording…';
    const play = h('button', { type: 'button', class: 'small', disabled: !finished }, 'Play');
    play.addEventListener('click', () => {
      this.#player.hidden = false;
      this.#player.src = `${base}/file?token=${token}`;
      this.#playing.hidden = false;
      this.#playing.textContent = `Playing the recording of ${formatDate(recording.startedAt)}.`;
      void this.#player.play().catch(() => undefined);
    });
    const remove = h(
      'button',
      { type: 'button', class: 'small danger', disabled: !finished },
      'Delete',
    );
    remove.addEventListener('click', () => void this.#delete(recording, base));
    return h(
      'li',
      { 'data-recording': recording.id, 'data-state': recording.state },
      h(
        'span',
        { class: 'grow' },
        h('strong', { class: 'recording-date' }, formatDate(recording.startedAt)),
        h('br', {}),
        h('span', { class: 'muted small recording-facts' }, facts),
        h('br', {}),
        recording.failure === null
          ? null
          : h(
              'span',
              { class: 'small recording-failure' },
              `Cut short: ${recording.failure}. It plays up to there.`,
            ),
        recording.failure === null ? null : h('br', {}),
        h(
          'span',
          { class: 'muted small recording-expiry' },
          recording.deletesAt === null
            ? 'Kept until deleted'
            : `Deleted on ${new Date(recording.deletesAt).toLocaleDateString(undefined, { dateStyle: 'medium' })}`,
        ),
      ),
      play,
      finished
        ? h(
            'a',
            { class: 'button small', href: `${base}/download?token=${token}`, download: '' },
            'Download',
          )
        : null,
      remove,
    );
  }

  async #delete(recording: RecordingView, base: string): Promise<void> {
    if (!window.confirm(`Delete the recording of ${formatDate(recording.startedAt)} for good?`)) {
      return;
    }
    try {
      await api('DELETE', base);
      if (this.#player.src.includes(recording.id)) {
        this.#player.removeAttribute('src');
        this.#player.load();
        this.#player.hidden = true;
        this.#playing.hidden = true;
      }
      this.#notice.show('Recording deleted.', 'ok', 4000);
    } catch (error) {
      this.#notice.show(`Could not delete the recording: ${errorMessage(error)}`, 'bad');
    }
    await this.load();
  }
}
