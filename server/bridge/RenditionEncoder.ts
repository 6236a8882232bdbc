import type { Rendition } from '../hls/renditions.js';
import {
  SupervisedFfmpeg,
  type FfmpegEvents,
  type FfmpegState,
  type FfmpegSupervision,
} from './SupervisedFfmpeg.js';

export interface RenditionEncoderOptions extends FfmpegSupervision {
  /** Names the encoder in logs and events (the rendition's stream name). */
  name: string;
  /** The source program on the origin (`RtmpOrigin.localUrl`: the origin knows this ffmpeg by its pid). */
  inputUrl: string;
  /** Where the rendition is published (`RtmpOrigin.localUrl`). */
  publishUrl: string;
  rendition: Rendition;
  /** H.264 bit rate in bits per second (VBV-capped at 110 %, over one second). */
  videoBitrate: number;
  /** x264 preset (default veryfast: about half the CPU of `medium`, far better than ultrafast). */
  preset?: string;
}

export type RenditionEncoderState = FfmpegState;
export type RenditionEncoderEvents = FfmpegEvents;

/**
 * One rendition of one live program, encoded once for every edge: an ffmpeg that plays the
 * source from the origin, scales it, encodes H.264 and publishes the result back to the origin
 * as its own stream, which the origin pushes to every edge like the source.
 *
 * Two things make the renditions interchangeable for players (hls.js switches between them and
 * between edges by program date):
 *  - timestamps are the source's (`-copyts`), i.e. the program clock (server/hls/programClock.ts);
 *  - keyframes are exactly the source's (`-force_key_frames source`, IDR, and x264 never adds one
 *    of its own), so every edge cuts the rendition's fragments at the same instants as the
 *    source's and names them alike.
 * Audio is the source's AAC, copied: identical in every rendition, and no encoder to run.
 *
 * ffmpeg exits when either RTMP side drops; the encoder restarts it with a doubling delay, and
 * a watchdog restarts one whose frame count stops moving.
 */
export class RenditionEncoder extends SupervisedFfmpeg {
  private readonly options: RenditionEncoderOptions;

  constructor(options: RenditionEncoderOptions) {
    super(`encoder ${options.name}`, options);
    if (options.rendition.id === '') throw new TypeError('the source is not encoded');
    if (!Number.isInteger(options.videoBitrate) || options.videoBitrate < 50_000) {
      throw new TypeError(`videoBitrate must be at least 50000 bit/s: ${options.videoBitrate}`);
    }
    this.options = options;
  }

  /** Starts ffmpeg; media follows once the source plays. */
  start(): void {
    this.begin();
  }

  /** ffmpeg's arguments (public for the operator's view and the tests). */
  override ffmpegArgs(): string[] {
    const { rendition, videoBitrate } = this.options;
    const kbps = Math.round(videoBitrate / 1000);
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      // Progress lines on stderr tell the encoder that media flows (see `running`).
      '-stats',
      '-stats_period',
      '1',
      // The source declares its streams in its FLV metadata: no need to read seconds of it.
      '-analyzeduration',
      '500000',
      '-fflags',
      '+nobuffer',
      // The program clock passes through untouched.
      '-copyts',
      '-i',
      this.options.inputUrl,
      '-map',
      '0:v:0',
      '-map',
      '0:a:0?',
      '-vf',
      `scale=${rendition.width}:${rendition.height}`,
      // One output frame per input frame, with the input's timestamps: in the input's time base
      // (FLV's milliseconds), not 1/30 s, which would move every frame by up to 33 ms.
      '-fps_mode',
      'passthrough',
      '-enc_time_base:v',
      '-1',
      '-c:v',
      'libx264',
      '-preset',
      this.options.preset ?? 'veryfast',
      '-tune',
      'zerolatency',
      // Constrained baseline like the source: every device that plays one plays the other.
      '-profile:v',
      'baseline',
      '-level:v',
      '3.0',
      '-b:v',
      `${kbps}k`,
      '-maxrate',
      `${Math.round(kbps * 1.1)}k`,
      '-bufsize',
      `${kbps}k`,
      '-force_key_frames',
      'source',
      '-forced-idr',
      '1',
      '-x264-params',
      'keyint=infinite:scenecut=0',
      '-c:a',
      'copy',
      '-f',
      'flv',
      '-flvflags',
      'no_duration_filesize',
      this.options.publishUrl,
    ];
  }
}
