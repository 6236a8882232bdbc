/**
 * Chapters: where things happened on an assembly's program, for viewers who come late or watch
 * it again. Go live is the first (the assembly's `wentLiveAt`); then every cut (to a camera or
 * to all cameras), every clip injected and every layout change made while live, each at its
 * program time: the wall clock when the server made the change, which is the clock the program
 * stream carries (server/hls/programClock.ts), so a chapter's time is the
 * EXT-X-PROGRAM-DATE-TIME of the fragment where it shows, give or take the pipeline's delay.
 * Backstage changes are rehearsal and make none.
 */
import type { Logger } from '../log.js';
import type { Chapter, ChapterStore } from '../store/ChapterStore.js';
import type { AssemblyId } from './ids.js';
import type { LiveAssembly, ProgramSource } from './LiveAssemblies.js';

const LAYOUT_NAMES = { grid: 'Grid', spotlight: 'Spotlight', pip: 'Picture in picture' } as const;

export class Chapters {
  readonly #store: ChapterStore;
  /** When the assembly went live (undefined while backstage); throws for an unknown one. */
  readonly #wentLiveAt: (id: AssemblyId) => string | undefined;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(
    store: ChapterStore,
    wentLiveAt: (id: AssemblyId) => string | undefined,
    logger: Logger,
    now: () => number = Date.now,
  ) {
    this.#store = store;
    this.#wentLiveAt = wentLiveAt;
    this.#log = logger;
    this.#now = now;
  }

  /** Records the program changes of `live` from now on. */
  follow(live: LiveAssembly): void {
    live.on('programChanged', (source) => {
      if (live.phase !== 'live') return;
      this.#add(live.id, {
        atMs: this.#now(),
        kind: source.kind === 'video' ? 'clip' : 'cut',
        title: this.#describe(live, source),
      });
    });
    live.on('layoutSet', (layout) => {
      if (live.phase !== 'live') return;
      const shown =
        layout.cameras === undefined
          ? 'every camera'
          : `${layout.cameras.length} camera${layout.cameras.length === 1 ? '' : 's'}`;
      this.#add(live.id, {
        atMs: this.#now(),
        kind: 'layout',
        title: `Layout: ${LAYOUT_NAMES[layout.layout]}, ${shown}`,
      });
    });
  }

  /** The assembly's chapters in program order, Go live first. */
  list(assemblyId: AssemblyId): Chapter[] {
    const wentLiveAt = this.#wentLiveAt(assemblyId);
    const stored = this.#store.list(assemblyId);
    if (wentLiveAt === undefined) return stored;
    const live: Chapter = { atMs: Date.parse(wentLiveAt), kind: 'live', title: 'Go live' };
    return [live, ...stored.filter((chapter) => chapter.atMs >= live.atMs)];
  }

  #describe(live: LiveAssembly, source: ProgramSource): string {
    switch (source.kind) {
      case 'composite':
        return 'All cameras';
      case 'camera':
        return live.cameraName(source.cameraId) ?? 'A camera';
      case 'video':
        return `Clip: ${source.name}`;
    }
  }

  #add(assemblyId: AssemblyId, chapter: Chapter): void {
    try {
      this.#store.add(assemblyId, chapter);
    } catch (error) {
      // A chapter is a convenience: losing one must not stop the cut that made it.
      this.#log.warn('recording a chapter failed', { assembly: assemblyId, error: String(error) });
    }
  }
}
