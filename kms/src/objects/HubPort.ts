import { randomUUID } from 'node:crypto';
import { KurentoError } from '../rpc/KurentoError.js';
import type { Args, ObjectHost } from './MediaObject.js';
import { MediaElement } from './MediaElement.js';
import { Hub } from './Hub.js';

/**
 * Kurento's HubPort: a MediaElement whose parent is its hub. Connecting X to
 * the port feeds X into the hub; connecting the port to Y delivers the
 * port's hub output (its composite view and N-1 audio mix, or the source a
 * dispatcher routed to it).
 */
export class HubPort extends MediaElement {
  private constructor(host: ObjectHost, hub: Hub) {
    super(
      host,
      'HubPort',
      `${hub.mediaPipeline.id}/${randomUUID()}_kurento.HubPort`,
      hub.mediaPipeline,
      hub,
    );
  }

  static async create(host: ObjectHost, params: Args): Promise<HubPort> {
    const id = String(params.hub);
    const hub = host.resolveArgument(id);
    if (!(hub instanceof Hub) || hub.released) throw KurentoError.objectNotFound(id);
    const port = new HubPort(host, hub);
    await port.createInWorker({ hub: hub.id });
    return port;
  }
}
