/**
 * The presenter's low-latency program monitor, driven from a test with the socket events the
 * studio page uses (`monitor:offer`, `monitor:candidate`, a new offer after `media:reset`): a
 * receive-only RTCPeerConnection in Chromium whose picture is sampled through a canvas and
 * whose audio is played (so that Chromium measures its level). With `bus: 'preview'` it is the
 * studio's preview monitor instead (`preview:offer`, `preview:candidate`).
 */
import type { Browser } from 'playwright-core';
import type { IceCandidateWire } from '../../server/signaling/events.js';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import { classify, type PaletteName } from '../helpers/media.js';
import { connectPage, type Point, type Rect, until, welcomed } from './drivers.js';
import { call, type Client } from './stack.js';
import { TrickleOffer } from './TrickleOffer.js';

/** Inbound audio as Chromium's getStats reports it. */
export interface AudioReading {
  /** Sum of squared levels times duration (RTCInboundRtpStreamStats.totalAudioEnergy). */
  energy: number;
  /** Seconds of audio played out so far. */
  seconds: number;
}

export class MonitorClient {
  readonly peer: BrowserPeer;
  readonly socket: Client;
  readonly #negotiation: TrickleOffer;
  #lastOffer: Promise<void> = Promise.resolve();
  resets = 0;
  readonly #bus: 'program' | 'preview';

  private constructor(peer: BrowserPeer, socket: Client, bus: 'program' | 'preview') {
    this.peer = peer;
    this.socket = socket;
    this.#bus = bus;
    this.#negotiation = new TrickleOffer(peer, false, (candidate) =>
      this.#sendCandidate(candidate),
    );
    const remote = (candidate: IceCandidateWire): void =>
      this.#negotiation.remoteCandidate(candidate);
    if (bus === 'program') socket.on('monitor:candidate', remote);
    else socket.on('preview:candidate', remote);
    // The media server restarted and the assembly was rebuilt: the old session is dead.
    socket.on('media:reset', () => {
      this.resets += 1;
      this.#startOffer();
    });
  }

  /** Connects with a presenter (or moderator) token and opens the monitor of `bus`. */
  static async open(options: {
    url: string;
    token: string;
    assembly: string;
    browser: Browser;
    bus?: 'program' | 'preview';
  }): Promise<MonitorClient> {
    const socket = connectPage(options.url, { token: options.token, assembly: options.assembly });
    await welcomed(socket);
    const monitor = new MonitorClient(
      await BrowserPeer.open(options.browser),
      socket,
      options.bus ?? 'program',
    );
    monitor.#startOffer();
    await monitor.#lastOffer;
    return monitor;
  }

  /** The newest offer (the first, or the one after `media:reset`), for tests to await. */
  get offered(): Promise<void> {
    return this.#lastOffer;
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.peer.close().catch(() => undefined);
  }

  /** The palette colours at `points` of the current frame (empty before the first frame). */
  async colours(points: readonly Point[]): Promise<PaletteName[]> {
    const received = await this.peer.received();
    if (received.frames === 0 || received.width === 0) return [];
    return (await this.peer.sample(points)).map(classify);
  }

  /**
   * Waits until the picture shows `expected` at `points`, or colours that `expected` accepts
   * when it is a function (`describe` then says what it wants); returns what was seen.
   */
  async waitForColours(
    points: readonly Point[],
    expected: readonly PaletteName[] | ((seen: readonly PaletteName[]) => boolean),
    timeoutMs: number,
    what: string,
    describe = typeof expected === 'function' ? 'the expected colours' : expected.join(','),
  ): Promise<PaletteName[]> {
    const accepts =
      typeof expected === 'function'
        ? expected
        : (colours: readonly PaletteName[]) => colours.join() === expected.join();
    let seen: PaletteName[] = [];
    return until(
      timeoutMs,
      async () => {
        seen = await this.colours(points).catch(() => []);
        return seen.length === points.length && accepts(seen) ? seen : undefined;
      },
      () => `${what}: expected ${describe}, saw ${seen.join(',') || 'no picture'}`,
      150,
    );
  }

  /**
   * Where the white box of each rectangle's camera is along the rectangle's middle row, as a
   * fraction of its width (NaN when no white pixel is there).
   */
  async boxPositions(rects: readonly Rect[]): Promise<number[]> {
    return this.peer.page.evaluate((cells) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const { video } = state;
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (context === null || canvas.width === 0) return cells.map(() => Number.NaN);
      context.drawImage(video, 0, 0);
      return cells.map((cell) => {
        const x0 = Math.floor(cell.x * canvas.width);
        const width = Math.max(1, Math.floor(cell.w * canvas.width));
        const y = Math.floor((cell.y + cell.h / 2) * canvas.height);
        const row = context.getImageData(x0, y, width, 1).data;
        let sum = 0;
        let count = 0;
        for (let x = 0; x < width; x++) {
          const r = row[x * 4] ?? 0;
          const g = row[x * 4 + 1] ?? 0;
          const b = row[x * 4 + 2] ?? 0;
          if (r > 190 && g > 190 && b > 190) {
            sum += x;
            count += 1;
          }
        }
        return count === 0 ? Number.NaN : sum / count / width;
      });
    }, rects);
  }

  /**
   * Waits until the box of every rectangle has been seen at places at least a fifth of the
   * width apart: each tile's picture is live, none is frozen.
   */
  async waitMoving(rects: readonly Rect[], timeoutMs: number, what: string): Promise<void> {
    const seen: number[][] = rects.map(() => []);
    const spread = (values: number[]): number =>
      values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
    await until(
      timeoutMs,
      async () => {
        const positions = await this.boxPositions(rects).catch(() => []);
        positions.forEach((position, i) => {
          if (!Number.isNaN(position)) seen[i]?.push(position);
        });
        return seen.every((values) => spread(values) >= 0.2) ? true : undefined;
      },
      () =>
        `${what}: box positions per tile ${JSON.stringify(
          seen.map((values) => values.slice(-6).map((v) => Math.round(v * 100) / 100)),
        )}`,
      120,
    );
  }

  /** Plays the received audio (muted elements are not enough: Chromium must play it out). */
  async playAudio(): Promise<void> {
    await this.peer.page.evaluate(async () => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const track = state.pc.getReceivers().find((r) => r.track.kind === 'audio')?.track;
      if (track === undefined) throw new Error('the monitor receives no audio');
      const audio = document.createElement('audio');
      audio.srcObject = new MediaStream([track]);
      document.body.appendChild(audio);
      await audio.play();
    });
  }

  /** The received audio's energy so far (zero before any audio). */
  async audio(): Promise<AudioReading> {
    return this.peer.page.evaluate(async () => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const reading = { energy: 0, seconds: 0 };
      (await state.pc.getStats()).forEach((entry: Record<string, unknown>) => {
        if (entry['type'] !== 'inbound-rtp' || entry['kind'] !== 'audio') return;
        const energy = entry['totalAudioEnergy'];
        const seconds = entry['totalSamplesDuration'];
        if (typeof energy === 'number') reading.energy = energy;
        if (typeof seconds === 'number') reading.seconds = seconds;
      });
      return reading;
    });
  }

  /** Mean audio power (energy per second of audio) over the next `ms` milliseconds. */
  async audioPower(ms: number): Promise<number> {
    const before = await this.audio();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const after = await this.audio();
    const seconds = after.seconds - before.seconds;
    if (seconds <= 0) throw new Error('no audio was played out');
    return (after.energy - before.energy) / seconds;
  }

  #startOffer(): void {
    this.#lastOffer = this.#negotiation.start(async (offer) => {
      const event = this.#bus === 'program' ? 'monitor:offer' : 'preview:offer';
      const { sdp } = await call<{ sdp: string }>(
        this.socket.timeout(30_000).emitWithAck(event, { sdp: offer }),
      );
      return sdp;
    });
  }

  #sendCandidate(candidate: IceCandidateWire): void {
    if (!this.socket.connected) return;
    this.socket
      .timeout(10_000)
      .emitWithAck(this.#bus === 'program' ? 'monitor:candidate' : 'preview:candidate', candidate)
      .catch(() => undefined);
  }
}
