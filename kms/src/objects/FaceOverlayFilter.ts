import { randomUUID } from 'node:crypto';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Filter } from './Filter.js';
import { validateMediaUri } from './UriEndpoint.js';
import type { UriPolicy } from './UriPolicy.js';

/**
 * Kurento's FaceOverlayFilter: GStreamer's OpenCV facedetect (Haar cascade from opencv-data)
 * finds faces, and the overlayed image is drawn over each, placed by ratios of the face's size.
 * The image URI obeys the players' URI policy.
 */
export class FaceOverlayFilter extends Filter {
  readonly #uris: UriPolicy;

  private constructor(host: ObjectHost, pipeline: MediaPipeline, uris: UriPolicy) {
    super(
      host,
      'FaceOverlayFilter',
      pipeline,
      `${pipeline.id}/${randomUUID()}_kurento.FaceOverlayFilter`,
    );
    this.#uris = uris;
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    uris: UriPolicy,
  ): Promise<FaceOverlayFilter> {
    const filter = new FaceOverlayFilter(host, pipeline, uris);
    await filter.createInWorker({});
    return filter;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'setOverlayedImage': {
        const uri = String(args.uri);
        validateMediaUri(uri);
        await this.#uris.checkPlayer(uri);
        await this.request('filter.setOverlayedImage', {
          uri,
          offsetXPercent: Number(args.offsetXPercent),
          offsetYPercent: Number(args.offsetYPercent),
          widthPercent: Number(args.widthPercent),
          heightPercent: Number(args.heightPercent),
        });
        return null;
      }
      case 'unsetOverlayedImage':
        await this.request('filter.unsetOverlayedImage');
        return null;
      default:
        return super.callMethod(name, args);
    }
  }
}
