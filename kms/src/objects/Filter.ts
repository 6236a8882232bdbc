import type { ObjectHost } from './MediaObject.js';
import { MediaElement } from './MediaElement.js';
import type { MediaPipeline } from './MediaPipeline.js';

/**
 * Kurento's Filter (core module): a MediaElement that changes or analyses the media passing
 * through it. The worker builds every filter the same way (kms/worker/filter.c): the filtered
 * media type runs through the filter, the other one passes through untouched.
 */
export abstract class Filter extends MediaElement {
  protected constructor(host: ObjectHost, className: string, pipeline: MediaPipeline, id: string) {
    super(host, className, id, pipeline);
  }
}
