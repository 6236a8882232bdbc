/**
 * A viewer on the real /watch page with a stall meter. A script in the page records every time
 * the <video> had to wait for data ('waiting') until it played again ('playing'): those are the
 * stalls a person sees. It also keeps the playback position over time. Fault tests read it to
 * say whether a viewer kept watching, how long it stalled, and when it resumed.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { classify, type PaletteName } from '../helpers/media.js';
import { sampleVideo, type Points } from '../helpers/pixels.js';
import { openPage, type OpenedPage } from './pages.js';

/** A stall: from 'waiting' to the next 'playing' (`to` 0 while it lasts), in Unix ms. */
export interface Stall {
  from: number;
  to: number;
}

/** What the page's meter reports. */
export interface PlaybackMeter {
  /** The video's position, in seconds. */
  currentTime: number;
  /** Date.now() when the position last moved forward. */
  lastProgressAt: number;
  /** The last 200 stalls, oldest first. */
  stalls: Stall[];
  /** The last 200 media events of the video, for failure messages: [Date.now(), type, position]. */
  events: Array<[number, string, number]>;
}

declare global {
  interface Window {
    montageMeter?: PlaybackMeter;
  }
}

/** Installed before the page's own scripts; watches whichever <video> the page shows. */
function installMeter(): void {
  const meter: PlaybackMeter = { currentTime: 0, lastProgressAt: 0, stalls: [], events: [] };
  window.montageMeter = meter;
  const watched = new WeakSet<HTMLVideoElement>();
  const watch = (video: HTMLVideoElement): void => {
    if (watched.has(video)) return;
    watched.add(video);
    for (const type of ['waiting', 'playing', 'stalled', 'seeking', 'seeked', 'emptied', 'pause']) {
      video.addEventListener(type, () => {
        meter.events.push([Date.now(), type, video.currentTime]);
        if (meter.events.length > 200) meter.events.shift();
      });
    }
    video.addEventListener('waiting', () => {
      const last = meter.stalls.at(-1);
      if (last !== undefined && last.to === 0) return;
      meter.stalls.push({ from: Date.now(), to: 0 });
      if (meter.stalls.length > 200) meter.stalls.shift();
    });
    video.addEventListener('playing', () => {
      const last = meter.stalls.at(-1);
      if (last !== undefined && last.to === 0) last.to = Date.now();
    });
  };
  setInterval(() => {
    const video = document.querySelector('video');
    if (video === null) return;
    watch(video);
    if (video.currentTime > meter.currentTime + 0.01) meter.lastProgressAt = Date.now();
    meter.currentTime = video.currentTime;
  }, 100);
}

export class WatchViewer {
  readonly opened: OpenedPage;

  private constructor(opened: OpenedPage) {
    this.opened = opened;
  }

  /**
   * Opens a /watch invite link in a fresh context of `browser`, with the meter installed;
   * `prepare` sets the context up first (see openPage).
   */
  static async open(
    browser: Browser,
    url: string,
    prepare?: (context: BrowserContext) => Promise<void>,
  ): Promise<WatchViewer> {
    return new WatchViewer(
      await openPage(browser, url, {
        viewport: { width: 1280, height: 800 },
        initScript: installMeter,
        prepare,
      }),
    );
  }

  async meter(): Promise<PlaybackMeter> {
    const reading = await this.opened.page.evaluate(() => {
      const m = window.montageMeter;
      return m === undefined
        ? undefined
        : {
            currentTime: m.currentTime,
            lastProgressAt: m.lastProgressAt,
            stalls: [...m.stalls],
            events: [...m.events],
          };
    });
    if (reading === undefined) throw new Error('the playback meter is not installed');
    return reading;
  }

  /**
   * When the viewer played again after a fault whose media was back at `instant` (Unix ms): the
   * end of the stall that lasted over that instant or began within `graceMs` after it (the
   * buffer may carry a viewer past the instant before it runs dry); `instant` itself when no
   * such stall happened; undefined while that stall lasts.
   */
  async resumedAfter(instant: number, graceMs = 3000): Promise<number | undefined> {
    const { stalls } = await this.meter();
    const stall = stalls.find(
      ({ from, to }) => from <= instant + graceMs && (to === 0 || to >= instant),
    );
    if (stall === undefined) {
      // No stall yet: it may still come while the buffer runs dry; only after the grace period
      // does "never stalled" stand.
      return Date.now() > instant + graceMs ? instant : undefined;
    }
    return stall.to === 0 ? undefined : Math.max(stall.to, instant);
  }

  /** The longest stall that overlaps [from, to] (Unix ms), in ms; a lasting one counts to now. */
  async longestStall(from: number, to: number): Promise<number> {
    const { stalls } = await this.meter();
    const now = Date.now();
    return Math.max(
      0,
      ...stalls
        .map((stall) => ({ from: stall.from, to: stall.to === 0 ? now : stall.to }))
        .filter((stall) => stall.to >= from && stall.from <= to)
        .map((stall) => stall.to - stall.from),
    );
  }

  /** The video's events since `from` (Unix ms), relative to it, for a failure message. */
  async eventsSince(from: number): Promise<string> {
    const { events } = await this.meter();
    return events
      .filter(([at]) => at >= from)
      .map(([at, type, position]) => `+${at - from}ms ${type}@${position.toFixed(2)}`)
      .join(' ');
  }

  /** The colours at `points` (fractions) of the page's video. */
  async colours(points: Points): Promise<PaletteName[]> {
    return (await sampleVideo(this.opened.page, 'video', points)).map(classify);
  }

  close(): Promise<void> {
    return this.opened.close();
  }
}
