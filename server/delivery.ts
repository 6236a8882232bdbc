/**
 * Program delivery: the RTMP origin inside the app server, the local nginx edge, and the edges
 * run elsewhere (MONTAGE_EDGES), each registered with the origin (which pushes every live
 * stream to it) and with the app's edge registry (which hands viewers its playlist URL).
 * `npm start` (server/main.ts) and the tests start them the same way, through this function
 * and `deliveryOptions`, so the tests prove what `npm start` runs.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from './App.js';
import { LOCAL_EDGE_ID, type AppConfig, type ConfiguredEdge } from './config.js';
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
        /** Base URL viewers are handed (a reverse proxy in front); default its own http URL. */
        publicUrl?: string;
      }
    | undefined;
  /** Edges run elsewhere (MONTAGE_EDGES); already validated by loadAppConfig. */
  edges?: readonly ConfiguredEdge[];
}

/** What `npm start` delivers with: the configured origin, local edge and remote edges. */
export function deliveryOptions(config: AppConfig): DeliveryOptions {
  return {
    rtmpHost: config.rtmpHost,
    rtmpPort: config.rtmpPort,
    edge: config.localEdge
      ? {
          prefix: join(config.dataDir, 'edge'),
          httpPort: config.edgeHttpPort,
          rtmpPort: config.edgeRtmpPort,
          publicUrl: config.localEdgePublicUrl,
        }
      : undefined,
    edges: config.edges,
  };
}

export interface Delivery {
  origin: RtmpOrigin;
  edge: NginxEdge | undefined;
  /** Stops the edge and the origin. Safe to call twice. */
  stop(): Promise<void>;
}

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
    origin.addEdge(LOCAL_EDGE_ID as EdgeId, edge.ingestUrl);
    // Viewers get the public URL; the registry probes the edge itself, whose /stat is
    // loopback-only and which a reverse proxy should not expose.
    app.edges.add({
      id: LOCAL_EDGE_ID,
      httpUrl: options.edge.publicUrl ?? edge.httpUrl,
      statusUrl: edge.httpUrl,
    });
  }
  // The origin only remembers an edge here; it pushes each stream to every edge when that
  // stream's publish starts (and to a new edge at once for streams already live), retrying a
  // push while the stream lasts, so an edge that is down now receives the program once it is up.
  const remote = options.edges ?? [];
  for (const configured of remote) {
    origin.addEdge(configured.id as EdgeId, configured.ingestUrl);
    app.edges.add({
      id: configured.id,
      httpUrl: configured.publicUrl,
      statusUrl: configured.statusUrl,
    });
    app.logger.info('edge registered', {
      edge: configured.id,
      publicUrl: configured.publicUrl,
      ingestUrl: configured.ingestUrl,
    });
  }
  if (edge === undefined && remote.length === 0) {
    app.logger.warn('no HLS edge: viewers cannot watch (set MONTAGE_LOCAL_EDGE or MONTAGE_EDGES)');
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
        for (const configured of remote) app.edges.remove(configured.id);
        await origin.stop();
        await edge?.stop();
      })();
      return stopped;
    },
  };
}
