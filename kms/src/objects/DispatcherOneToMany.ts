import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Hub } from './Hub.js';

/**
 * Kurento's DispatcherOneToMany: setSource(port) sends that port's input to
 * the output of every port, including ports created later and the source
 * itself; removeSource() (or releasing the source port) detaches them all.
 */
export class DispatcherOneToMany extends Hub {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'DispatcherOneToMany', pipeline);
  }

  static async create(host: ObjectHost, pipeline: MediaPipeline): Promise<DispatcherOneToMany> {
    return Hub.build(new DispatcherOneToMany(host, pipeline), {});
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'setSource': {
        const source = this.ownPort(args.source);
        await this.request('hub.setSource', { source: source.id });
        return null;
      }
      case 'removeSource':
        await this.request('hub.removeSource');
        return null;
      default:
        return super.callMethod(name, args);
    }
  }
}
