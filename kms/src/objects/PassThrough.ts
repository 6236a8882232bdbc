import { randomUUID } from 'node:crypto';
import type { ObjectHost } from './MediaObject.js';
import { MediaElement } from './MediaElement.js';
import type { MediaPipeline } from './MediaPipeline.js';

/**
 * Kurento's PassThrough (core module): whatever is connected to it goes out unchanged to every
 * element it is connected to. The worker takes raw media in and offers it from one tee, so a
 * PassThrough between a source and its sinks costs no encoder of its own.
 */
export class PassThrough extends MediaElement {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'PassThrough', `${pipeline.id}/${randomUUID()}_kurento.PassThrough`, pipeline);
  }

  static async create(host: ObjectHost, pipeline: MediaPipeline): Promise<PassThrough> {
    const element = new PassThrough(host, pipeline);
    await element.createInWorker({});
    return element;
  }
}
