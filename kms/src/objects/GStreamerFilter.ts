import { randomUUID } from 'node:crypto';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { Filter } from './Filter.js';

/**
 * Kurento's GStreamerFilter: one GStreamer element given in gst-launch syntax (`command`),
 * applied to the AUDIO or VIDEO of what passes through (AUTODETECT looks at the element's
 * input caps). As in Kurento, the command must describe exactly one element; unlike Kurento,
 * the worker also refuses elements that are not plain filters (sources, sinks, network
 * elements) and string properties that name files, devices or hosts, so a client cannot make
 * the server read or write files or open connections through a filter (README.md).
 */
export class GStreamerFilter extends Filter {
  readonly #command: string;

  private constructor(host: ObjectHost, pipeline: MediaPipeline, command: string) {
    super(
      host,
      'GStreamerFilter',
      pipeline,
      `${pipeline.id}/${randomUUID()}_kurento.GStreamerFilter`,
    );
    this.#command = command;
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
  ): Promise<GStreamerFilter> {
    const command = String(params.command);
    const filterType = typeof params.filterType === 'string' ? params.filterType : 'AUTODETECT';
    const filter = new GStreamerFilter(host, pipeline, command);
    await filter.createInWorker({ command, filterType });
    return filter;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    if (name === 'setElementProperty') {
      await this.request('filter.setElementProperty', {
        propertyName: String(args.propertyName),
        propertyValue: String(args.propertyValue),
      });
      return null;
    }
    return super.callMethod(name, args);
  }

  protected override getProperty(name: string): unknown {
    if (name === 'command') return this.#command;
    return super.getProperty(name);
  }
}
