/**
 * The app server with its origin and ABR ladder, configured and started exactly as `npm start`
 * does (`loadAppConfig`, `new App`, `startDelivery(app, deliveryOptions(config))`), its edges
 * listed in MONTAGE_EDGES, and a test program published to the origin the way the bridge
 * publishes it. No media server: the test program stands in for the engine's.
 */
import assert from 'node:assert/strict';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery, type Delivery } from '../../server/delivery.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { EdgeFleetView } from '../../server/edges/EdgeView.js';
import { Logger } from '../../server/log.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { EDGE_SECRET, type TestProcess } from '../edge/helpers.js';
import { freePort } from '../helpers/engineProcess.js';
import { request } from '../server/appHelpers.js';
import { publishProgram, type ProgramPicture } from './helpers.js';
import type { TestEdge } from './TestEdge.js';

export interface Delivered {
  app: App;
  delivery: Delivery;
  assemblyId: string;
  viewerToken: string;
  publisher: TestProcess;
  /** The watch page URL with a fresh viewer token. */
  watchUrl(): string;
  teardown(): Promise<void>;
}

export async function startDelivered(options: {
  dataDir: string;
  edges: ReadonlyArray<{ id: string; edge: TestEdge }>;
  picture?: Partial<ProgramPicture>;
  fleet?: EdgeFleetView;
  env?: Record<string, string>;
}): Promise<Delivered> {
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: options.dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_SECRET: EDGE_SECRET,
      MONTAGE_LOCAL_EDGE: 'false',
      MONTAGE_EDGES: options.edges
        .map(({ id, edge }) => `${id}=${edge.publicUrl}|${edge.ingestUrl}`)
        .join(','),
      ...options.env,
    },
    envFile: null,
  });
  const app = new App(config, {
    logger: new Logger(process.env.E2E_LOG === '1' ? 'debug' : 'warn'),
    media: false,
    fleet: options.fleet,
  });
  await app.start();
  let delivery: Delivery | undefined;
  let publisher: TestProcess | undefined;
  const teardown = async (): Promise<void> => {
    await publisher?.stop();
    await delivery?.stop();
    await app.stop();
  };
  try {
    delivery = await startDelivery(app, deliveryOptions(config));
    const operator = app.core.invites.mintOperator('test', 3600).token;
    const created = await request(`${app.url}/api/assemblies`, 'POST', operator, {
      name: 'Delivery',
      live: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const assemblyId = (created.body as { assembly: { id: string } }).assembly.id;
    const stream = streamName(assemblyId);
    delivery.origin.allowStream(stream, 'delivery-test-stream-key-01');
    publisher = publishProgram(delivery.origin.publishUrl(stream), options.picture);
    const mint = (): string =>
      app.core.invites.mint('test', parseAssemblyId(assemblyId), 'viewer', 3600).token;
    const viewerToken = mint();
    // The watch API says live once the program and its renditions are on the origin.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const watch = await request(
        `${app.url}/api/assemblies/${assemblyId}/watch`,
        'GET',
        viewerToken,
      );
      if ((watch.body as { live?: boolean } | undefined)?.live === true) break;
      if (Date.now() > deadline) throw new Error(`never live: ${JSON.stringify(watch.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const running = delivery;
    return {
      app,
      delivery: running,
      assemblyId,
      viewerToken,
      publisher,
      watchUrl: () => `${app.url}/watch/${assemblyId}?token=${mint()}`,
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}
