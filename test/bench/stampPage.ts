/**
 * The in-page halves of the glass-to-glass benchmark: a camera whose picture is the current
 * time as a stamp pattern (stamp.ts), and a probe that reads the stamp back from every frame a
 * page's <video> presents. Both are injected into real pages (the /camera, /studio and /watch
 * pages, or a plain hls.js page) as init scripts, so the pages' own code runs unchanged.
 *
 * The functions below run in Chromium, not in Node: `pageScript()` turns one into script text
 * through `toString()`, so they must refer only to their arguments and to browser globals.
 */
import { stampCodec, type FractionRect, type StampCodec } from './stamp.js';

export interface StampCameraOptions {
  width: number;
  height: number;
  /** The frame rate of canvas.captureStream(). */
  fps: number;
}

/** What the camera script leaves on `window.stampCamera` for the benchmark. */
export interface StampCamera {
  /** The canvas track every getUserMedia() caller receives (the page's sender uses it). */
  videoTrack(): MediaStreamTrack;
  /** Frames painted so far (one per animation frame). */
  painted: number;
}

/** What the viewer probe keeps on `window.stampViewer`, read by the benchmark. */
export interface ViewerProbe {
  /** Frames presented by every <video> of the page. */
  frames: number;
  /**
   * Milliseconds from the start of the navigation (performance.timeOrigin) until the first
   * video frame was handed to the compositor; -1 before that.
   */
  firstFrameMs: number;
  /** Whether frames are read (reading costs CPU; first-frame runs leave it off). */
  reading: boolean;
  /** Where the camera's picture is inside the video frame. */
  region: FractionRect;
  /**
   * The first appearance of each stamp: [the camera's Date.now() when it painted the frame,
   * Date.now() at the frame's expected display time here].
   */
  samples: Array<[number, number]>;
  /** Frames read whose stamp failed its check (blurred, half-updated, or no stamp at all). */
  unreadable: number;
  /** Frames showing a stamp already seen (a repeated frame: compositor or player). */
  repeated: number;
}

declare global {
  interface Window {
    stampCamera?: StampCamera;
    stampViewer?: ViewerProbe;
    /** The plain hls.js page's entry point (test/edge/helpers.ts startWatchPage). */
    play?: (src: string) => void;
  }
}

/** Script text that runs `fn(stampCodec(), options)` in the page. */
export function pageScript<O>(fn: (codec: StampCodec, options: O) => void, options: O): string {
  return `(${fn.toString()})((${stampCodec.toString()})(), ${JSON.stringify(options)});`;
}

/**
 * Replaces getUserMedia with a canvas that shows, every animation frame, the stamp of the
 * current Date.now(), captured with canvas.captureStream(fps), plus a quiet tone as the
 * microphone. The page's own publishing code (the real /camera page) then sends it as it would
 * send a webcam. The stamp is painted in requestAnimationFrame, right before the canvas is
 * captured, so it is the time the picture was made: the camera's "glass".
 */
export function stampCamera(codec: StampCodec, options: StampCameraOptions): void {
  const canvas = document.createElement('canvas');
  canvas.width = options.width;
  canvas.height = options.height;
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('no 2d canvas');
  const cellCount = codec.rows * codec.cols;
  const state: StampCamera = {
    painted: 0,
    videoTrack: () => {
      track ??= start();
      return track;
    },
  };
  let track: MediaStreamTrack | undefined;
  const paint = (): void => {
    const now = Date.now();
    context.fillStyle = '#808080';
    context.fillRect(0, 0, canvas.width, canvas.height);
    const cells = codec.cells(now);
    for (let i = 0; i < cellCount; i++) {
      const r = codec.cellRect(i, canvas.width, canvas.height);
      context.fillStyle = cells[i] === 1 ? '#ffffff' : '#000000';
      context.fillRect(r.x, r.y, r.w, r.h);
    }
    // For people looking at a screenshot; the reader ignores it.
    context.fillStyle = '#ffffff';
    context.font = `${Math.round(canvas.height / 12)}px monospace`;
    context.fillText(
      new Date(now).toISOString().slice(11, 23),
      canvas.width * 0.03,
      canvas.height * 0.18,
    );
    state.painted += 1;
    requestAnimationFrame(paint);
  };
  const start = (): MediaStreamTrack => {
    paint();
    const video = canvas.captureStream(options.fps).getVideoTracks()[0];
    if (video === undefined) throw new Error('captureStream gave no track');
    return video;
  };
  let audio: MediaStreamTrack | undefined;
  const tone = (): MediaStreamTrack => {
    if (audio !== undefined) return audio;
    const ac = new AudioContext();
    const oscillator = ac.createOscillator();
    const gain = ac.createGain();
    gain.gain.value = 0.05;
    const destination = ac.createMediaStreamDestination();
    oscillator.connect(gain).connect(destination);
    oscillator.start();
    const made = destination.stream.getAudioTracks()[0];
    if (made === undefined) throw new Error('WebAudio gave no track');
    audio = made;
    return made;
  };
  window.stampCamera = state;
  navigator.mediaDevices.getUserMedia = (constraints?: MediaStreamConstraints) => {
    const tracks: MediaStreamTrack[] = [];
    if (constraints?.video !== undefined && constraints.video !== false) {
      tracks.push(state.videoTrack());
    }
    if (constraints?.audio !== undefined && constraints.audio !== false) tracks.push(tone());
    return Promise.resolve(new MediaStream(tracks));
  };
}

export interface ViewerProbeOptions {
  region: FractionRect;
  reading: boolean;
  /** Pictures are read at most this wide (the cells are large; smaller reads cost less). */
  readWidth: number;
  /** For the plain hls.js page: calls its `play(src)` as soon as the document is parsed. */
  autoplaySrc?: string;
}

/**
 * Watches every <video> the page creates (now or later: the pages build theirs in script) with
 * requestVideoFrameCallback. For each presented frame it notes the first-frame time and, while
 * reading, draws the camera's region of that very frame to a canvas, reads the stamp and keeps
 * its first appearance with the frame's expected display time, both on the Date.now() clock
 * that the camera used (the pages run on the same machine).
 */
export function stampViewer(codec: StampCodec, options: ViewerProbeOptions): void {
  const state: ViewerProbe = {
    frames: 0,
    firstFrameMs: -1,
    reading: options.reading,
    region: options.region,
    samples: [],
    unreadable: 0,
    repeated: 0,
  };
  window.stampViewer = state;
  const seen = new Set<number>();
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('no 2d canvas');

  const read = (video: HTMLVideoElement, metadata: VideoFrameCallbackMetadata): void => {
    const r = state.region;
    const sw = r.w * metadata.width;
    const sh = r.h * metadata.height;
    if (sw < 8 || sh < 8) return;
    const scale = Math.min(1, options.readWidth / sw);
    const width = Math.max(1, Math.round(sw * scale));
    const height = Math.max(1, Math.round(sh * scale));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    context.drawImage(
      video,
      r.x * metadata.width,
      r.y * metadata.height,
      sw,
      sh,
      0,
      0,
      width,
      height,
    );
    const pixels = context.getImageData(0, 0, width, height).data;
    // performance.now() and Date.now() read together convert the display time to wall time.
    const wallNow = Date.now();
    const perfNow = performance.now();
    const stamp = codec.read(pixels, width, height, wallNow);
    if (stamp === undefined) {
      state.unreadable += 1;
      return;
    }
    if (seen.has(stamp)) {
      state.repeated += 1;
      return;
    }
    seen.add(stamp);
    state.samples.push([stamp, metadata.expectedDisplayTime + (wallNow - perfNow)]);
  };

  const watched = new WeakSet<HTMLVideoElement>();
  const watch = (video: HTMLVideoElement): void => {
    if (watched.has(video)) return;
    watched.add(video);
    const onFrame = (_now: number, metadata: VideoFrameCallbackMetadata): void => {
      state.frames += 1;
      if (state.firstFrameMs < 0) state.firstFrameMs = metadata.presentationTime;
      if (state.reading) read(video, metadata);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  // The studio's preview monitor shows the preview bus, not the program the figures are about.
  const scan = (): void =>
    document
      .querySelectorAll<HTMLVideoElement>('video:not([aria-label="Preview monitor"])')
      .forEach(watch);
  new MutationObserver(scan).observe(document, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', () => {
    scan();
    if (options.autoplaySrc !== undefined) window.play?.(options.autoplaySrc);
  });
}
