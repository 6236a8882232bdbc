import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Hub } from './Hub.js';

/**
 * Kurento's AlphaBlending: the master port is full frame and defines the
 * output size; other ports are placed by setPortProperties (relative
 * position and size, z-order), e.g. a picture-in-picture over a spotlight.
 * Ports not placed yet are hidden. Audio is the same N-1 mix as Composite.
 */
export class AlphaBlending extends Hub {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'AlphaBlending', pipeline);
  }

  static async create(host: ObjectHost, pipeline: MediaPipeline): Promise<AlphaBlending> {
    return Hub.build(new AlphaBlending(host, pipeline), {});
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'setMaster': {
        const port = this.ownPort(args.source);
        await this.request('hub.setMaster', { port: port.id, zOrder: Number(args.zOrder) });
        return null;
      }
      case 'setPortProperties': {
        const port = this.ownPort(args.port);
        await this.request('hub.setPortProperties', {
          port: port.id,
          relativeX: Number(args.relativeX),
          relativeY: Number(args.relativeY),
          relativeWidth: Number(args.relativeWidth),
          relativeHeight: Number(args.relativeHeight),
          zOrder: Number(args.zOrder),
        });
        return null;
      }
      default:
        return super.callMethod(name, args);
    }
  }
}
