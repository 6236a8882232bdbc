/**
 * Program delivery on this machine: the RTMP origin inside the app server and the local nginx
 * edge, registered with each other and with the app. `npm start` (server/main.ts) and the
 * end-to-end tests start them the same way, through this function, so the tests prove what
 * `npm start` runs.
 */
import { mkdirSync } from 'node:fs';
import type { App } from './App.js';
import { NginxEdge } from './edges/NginxEdge.js';
import { RtmpOrigin, type EdgeId } from './origin/RtmpOrigin.js';

export interface DeliveryOptions {
  rtmpHost: string;
  rtmpPort: number;
  /** The local edge; undefined when edges run elsewhere. */
  edge:
    | {
        /** The edge's own folder (config, pid, logs, HLS). */
        prefix: string;
        httpPort: number;
        rtmpPort: number;
        hlsFragment?: string;
      }
    | undefined;
}

export interface Delivery {
  origin: RtmpOrigin;
  edge: NginxEdge | undefined;
  /** Stops the edge and the origin. Safe to call twice. */
  stop(): Promise<void>;
}

const LOCAL_EDGE_ID = 'local' as EdgeId;

export async function startDelivery(app: App, options: DeliveryOptions): Promise<Delivery> {
  const origin = new RtmpOrigin({
    host: options.rtmpHost,
    port: options.rtmpPort,
    edgeSecret: app.edgeSecret,
  });
  await origin.start();
  origin.on('rejected', (event) => app.logger.warn('RTMP request refused', { ...event }));
  origin.on('publishStarted', (event) =>
    app.logger.info('program live on the origin', { ...event }),
  );
  origin.on('publishStopped', (event) =>
    app.logger.info('program ended on the origin', { ...event }),
  );
  let edge: NginxEdge | undefined;
  if (options.edge !== undefined) {
    mkdirSync(options.edge.prefix, { recursive: true });
    edge = new NginxEdge({
      prefix: options.edge.prefix,
      httpPort: options.edge.httpPort,
      rtmpPort: options.edge.rtmpPort,
      edgeSecret: app.edgeSecret,
      hlsFragment: options.edge.hlsFragment,
      // As root, nginx's workers would run as nobody, who cannot write HLS under our data dir.
      user: process.getuid?.() === 0 ? 'root' : undefined,
    });
    // An edge left running by a previous run that was killed holds the ports: stop it first.
    await edge.stop();
    try {
      await edge.start();
    } catch (error) {
      await origin.stop();
      throw error;
    }
    origin.addEdge(LOCAL_EDGE_ID, edge.ingestUrl);
    app.edges.add({ id: LOCAL_EDGE_ID, httpUrl: edge.httpUrl });
  }
  app.setOrigin(origin);
  let stopped: Promise<void> | undefined;
  return {
    origin,
    edge,
    stop: () => {
      stopped ??= (async () => {
        app.setOrigin(undefined);
        app.edges.remove(LOCAL_EDGE_ID);
        await origin.stop();
        await edge?.stop();
      })();
      return stopped;
    },
  };
}
