import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Hub } from './Hub.js';

/**
 * Kurento's Dispatcher: connect(source, sink) makes the sink port's output
 * follow the source port's input; a later connect to the same sink replaces
 * the earlier one. The worker switches raw frames and forces a keyframe on
 * every encoder behind the sink, so a switch is clean and immediate.
 */
export class Dispatcher extends Hub {
  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'Dispatcher', pipeline);
  }

  static async create(host: ObjectHost, pipeline: MediaPipeline): Promise<Dispatcher> {
    return Hub.build(new Dispatcher(host, pipeline), {});
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    if (name === 'connect') {
      const source = this.ownPort(args.source);
      const sink = this.ownPort(args.sink);
      await this.request('hub.connect', { source: source.id, sink: sink.id });
      return null;
    }
    return super.callMethod(name, args);
  }
}
