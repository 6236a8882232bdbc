import { randomUUID } from 'node:crypto';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Filter } from './Filter.js';
import { validateMediaUri } from './UriEndpoint.js';
import type { UriPolicy } from './UriPolicy.js';

/**
 * Kurento's ImageOverlayFilter: images drawn over the video, each placed by fractions of the
 * frame. Image URIs obey the same policy as players (file roots, forbidden hosts), since the
 * server reads them. addImage answers once the image is decoded, so a bad image is an error
 * of addImage itself.
 */
export class ImageOverlayFilter extends Filter {
  readonly #uris: UriPolicy;

  private constructor(host: ObjectHost, pipeline: MediaPipeline, uris: UriPolicy) {
    super(
      host,
      'ImageOverlayFilter',
      pipeline,
      `${pipeline.id}/${randomUUID()}_kurento.ImageOverlayFilter`,
    );
    this.#uris = uris;
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    uris: UriPolicy,
  ): Promise<ImageOverlayFilter> {
    const filter = new ImageOverlayFilter(host, pipeline, uris);
    await filter.createInWorker({});
    return filter;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'addImage': {
        const uri = String(args.uri);
        validateMediaUri(uri);
        await this.#uris.checkPlayer(uri);
        await this.request('filter.addImage', {
          imageId: String(args.id),
          uri,
          offsetXPercent: Number(args.offsetXPercent),
          offsetYPercent: Number(args.offsetYPercent),
          widthPercent: Number(args.widthPercent),
          heightPercent: Number(args.heightPercent),
          keepAspectRatio: args.keepAspectRatio === true,
          center: args.center === true,
        });
        return null;
      }
      case 'removeImage':
        await this.request('filter.removeImage', { imageId: String(args.id) });
        return null;
      default:
        return super.callMethod(name, args);
    }
  }
}
