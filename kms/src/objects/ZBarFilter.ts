import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../worker/Channel.js';
import type { ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Filter } from './Filter.js';

/**
 * Kurento's ZBarFilter: GStreamer's zbar scans every frame; a code is raised as CodeFound
 * when it differs from the last one or a second after it was last raised (Kurento's rule,
 * applied in the worker).
 */
export class ZBarFilter extends Filter {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'ZBarFilter', pipeline, `${pipeline.id}/${randomUUID()}_kurento.ZBarFilter`);
  }

  static async create(host: ObjectHost, pipeline: MediaPipeline): Promise<ZBarFilter> {
    const filter = new ZBarFilter(host, pipeline);
    await filter.createInWorker({});
    return filter;
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    if (event === 'CodeFound') {
      this.raise('CodeFound', {
        codeType: typeof data.codeType === 'string' ? data.codeType : '',
        value: typeof data.value === 'string' ? data.value : '',
      });
      return;
    }
    super.onWorkerEvent(event, data);
  }
}
