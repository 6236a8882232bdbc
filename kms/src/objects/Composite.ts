import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Hub } from './Hub.js';

/** Output size and frame rate when the client does not ask for others. */
export const COMPOSITE_DEFAULTS = { width: 1280, height: 720, framerate: 30 } as const;

/**
 * Kurento's Composite: every port with video takes a cell of an automatic
 * grid (reflowed in place when ports come and go), and every port hears the
 * mix of all the others. Unlike KMS (800x600@15), the defaults are
 * 1280x720@30; explicit width/height/framerate constructor params win.
 */
export class Composite extends Hub {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'Composite', pipeline);
  }

  /** `requested` holds only what the client sent (the kmd fills in KMS's defaults). */
  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    requested: Args,
  ): Promise<Composite> {
    const pick = (name: keyof typeof COMPOSITE_DEFAULTS): number =>
      typeof requested[name] === 'number' ? requested[name] : COMPOSITE_DEFAULTS[name];
    return Hub.build(new Composite(host, pipeline), {
      width: pick('width'),
      height: pick('height'),
      framerate: pick('framerate'),
    });
  }
}
