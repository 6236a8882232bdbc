import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import {
  renditionStream,
  SOURCE_RENDITION,
  type Rendition,
  type RenditionId,
} from '../hls/renditions.js';
import {
  streamName,
  type RtmpOrigin,
  type StreamEvent,
  type StreamName,
} from '../origin/RtmpOrigin.js';
import { RenditionEncoder, type RenditionEncoderOptions } from './RenditionEncoder.js';

/** H.264 bit rate of each encoded rendition (the source's is the media server's). */
const VIDEO_BITRATES: Record<RenditionId, number> = { '360p': 600_000 };

export interface RenditionLadderOptions {
  origin: RtmpOrigin;
  /** The renditions to encode (the source is never encoded). */
  renditions: readonly Rendition[];
  logger: Logger;
  /**
   * How long viewers wait for the renditions once the source is live (default 10 s): players
   * that start before a rendition exists never learn of it, but an encoder that cannot start
   * must not keep everyone waiting.
   */
  readyGraceMs?: number;
  /** Passed to every encoder (tests: faster restarts, another ffmpeg). */
  encoder?: Partial<Pick<RenditionEncoderOptions, 'ffmpeg' | 'preset' | 'restartDelayMs'>>;
}

interface LiveSource {
  startedAt: number;
  encoders: Map<StreamName, RenditionEncoder>;
}

/**
 * The program's ABR ladder, encoded once upstream of the edges: when a program goes live on the
 * origin, one `RenditionEncoder` per rendition starts reading it and publishes the rendition
 * back to the origin as stream `<assembly>_<rendition>` (with a key of its own), which the origin
 * pushes to every edge; when the program ends, they stop. A rendition stream going live is not a
 * program, so it never gets encoders of its own.
 */
export class RenditionLadder {
  readonly #options: RenditionLadderOptions;
  readonly #sources = new Map<StreamName, LiveSource>();
  /** Every rendition stream this ladder allowed on the origin. */
  readonly #renditionStreams = new Set<StreamName>();
  readonly #onStarted = (event: StreamEvent): void => this.#sourceStarted(event.stream);
  readonly #onStopped = (event: StreamEvent): void => void this.#sourceStopped(event.stream);
  #started = false;

  constructor(options: RenditionLadderOptions) {
    if (options.renditions.some((rendition) => rendition.id === '')) {
      throw new TypeError('the source rendition is not encoded');
    }
    this.#options = options;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#options.origin.on('publishStarted', this.#onStarted);
    this.#options.origin.on('publishStopped', this.#onStopped);
    // Programs already live (the ladder started after them) get their encoders now.
    for (const stream of this.#options.origin.liveStreams()) this.#sourceStarted(stream);
  }

  /** Stops every encoder. Safe to call twice. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#options.origin.off('publishStarted', this.#onStarted);
    this.#options.origin.off('publishStopped', this.#onStopped);
    await Promise.all([...this.#sources.keys()].map((stream) => this.#sourceStopped(stream)));
  }

  /** The assembly's renditions live on the origin, the source first (even before it is live). */
  liveRenditions(assembly: string): Rendition[] {
    const origin = this.#options.origin;
    return [
      SOURCE_RENDITION,
      ...this.#options.renditions.filter((rendition) =>
        origin.isLive(renditionStream(assembly, rendition) as StreamName),
      ),
    ];
  }

  /** The program is live, and so is every rendition (or they had their grace period). */
  ready(assembly: string): boolean {
    const source = streamName(assembly);
    if (!this.#options.origin.isLive(source)) return false;
    const live = this.#sources.get(source);
    const grace = this.#options.readyGraceMs ?? 10_000;
    if (live === undefined || Date.now() - live.startedAt >= grace) return true;
    return this.liveRenditions(assembly).length === this.#options.renditions.length + 1;
  }

  /** The encoder of one rendition stream, while its program is live (tests, operators). */
  encoder(stream: string): RenditionEncoder | undefined {
    for (const live of this.#sources.values()) {
      const encoder = live.encoders.get(stream as StreamName);
      if (encoder !== undefined) return encoder;
    }
    return undefined;
  }

  #sourceStarted(stream: StreamName): void {
    if (this.#renditionStreams.has(stream) || this.#sources.has(stream)) return;
    const { origin, logger } = this.#options;
    const encoders = new Map<StreamName, RenditionEncoder>();
    this.#sources.set(stream, { startedAt: Date.now(), encoders });
    for (const rendition of this.#options.renditions) {
      let output: StreamName;
      try {
        output = streamName(renditionStream(stream, rendition));
      } catch (error) {
        logger.warn('no rendition for a stream whose name is too long', {
          stream,
          error: String(error),
        });
        continue;
      }
      this.#renditionStreams.add(output);
      origin.allowStream(output, randomBytes(18).toString('base64url'));
      const encoder = new RenditionEncoder({
        name: output,
        // No secret or key on ffmpeg's command line: the origin knows the encoder by its pid.
        inputUrl: origin.localUrl(stream),
        publishUrl: origin.localUrl(output),
        rendition,
        videoBitrate: VIDEO_BITRATES[rendition.id as RenditionId],
        ...this.#options.encoder,
      });
      encoder.on('running', (pid) => logger.info('rendition encoding', { stream: output, pid }));
      encoder.on('exited', (code, signal, delayMs) =>
        logger.warn('rendition encoder exited; restarting', {
          stream: output,
          code,
          signal,
          delayMs,
          stderr: encoder.lastError.slice(-500),
        }),
      );
      encoders.set(output, encoder);
      // Its publish is withdrawn with the output's key (revokeStream), its play on stop.
      origin.allowLocalProcess(output, 'publish', () => encoder.pid);
      encoder.on('stateChanged', (state) => {
        if (state === 'stopped') withdrawPlay();
      });
      const withdrawPlay = origin.allowLocalProcess(stream, 'play', () => encoder.pid);
      encoder.start();
    }
  }

  async #sourceStopped(stream: StreamName): Promise<void> {
    const live = this.#sources.get(stream);
    if (live === undefined) return;
    this.#sources.delete(stream);
    await Promise.all(
      [...live.encoders].map(async ([output, encoder]) => {
        await encoder.stop();
        this.#options.origin.revokeStream(output);
      }),
    );
  }
}
