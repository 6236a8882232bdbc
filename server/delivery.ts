/**
 * Program delivery: the RTMP origin inside the app server and the local nginx edge, kept in step
 * with the app's edge registry. The origin pushes every live stream to every registered edge:
 * those in the registry when delivery starts (MONTAGE_EDGES seeded them on the first start,
 * operators added the others), each edge added later (within a moment of `POST /api/edges`, no
 * restart), until it is removed. A draining edge keeps receiving the program: its viewers are
 * still there until they move. The local edge is restarted when its nginx dies.
 *
 * `npm start` (server/main.ts) and the tests start delivery the same way, through this function
 * and `deliveryOptions`, so the tests prove what `npm start` runs.
 */
import { mkdirSync } from 'node:fs';
import type { App } from './App.js';
import { LOCAL_EDGE_ID, localEdgeDir, type AppConfig } from './config.js';
import type { EdgeRecord } from './edges/EdgeRegistry.js';
import { NginxEdge } from './edges/NginxEdge.js';
import { RenditionLadder } from './bridge/RenditionLadder.js';
import { renditionById, type RenditionId } from './hls/renditions.js';
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
  /** Renditions encoded from every live program besides the source (MONTAGE_RENDITIONS). */
  renditions?: readonly RenditionId[];
}

/** What `npm start` delivers with: the configured origin and local edge. */
export function deliveryOptions(config: AppConfig): DeliveryOptions {
  return {
    rtmpHost: config.rtmpHost,
    rtmpPort: config.rtmpPort,
    edge: config.localEdge
      ? {
          prefix: localEdgeDir(config),
          httpPort: config.edgeHttpPort,
          rtmpPort: config.edgeRtmpPort,
          publicUrl: config.localEdgePublicUrl,
        }
      : undefined,
    renditions: config.renditions,
  };
}

export interface Delivery {
  origin: RtmpOrigin;
  /** The encoders of every live program's renditions. */
  ladder: RenditionLadder;
  edge: NginxEdge | undefined;
  /**
   * Stops the origin and starts it again on the same port, keeping its stream keys and edges:
   * every bridge reconnects and publishes again, and the origin pushes again to every edge.
   */
  restartOrigin(): Promise<void>;
  /** Stops the edge and the origin. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * After an edge came back, the origin's pushes to it wait out a back-off of up to 30 s; pushes
 * that are retrying are restarted at once instead, at most this often per edge.
 */
const PUSH_RESTART_MIN_INTERVAL_MS = 10_000;

export async function startDelivery(app: App, options: DeliveryOptions): Promise<Delivery> {
  const origin = new RtmpOrigin({
    host: options.rtmpHost,
    port: options.rtmpPort,
    edgeSecret: app.edgeSecret,
  });
  await origin.start();
  origin.on('rejected', (event) => app.logger.warn('RTMP request refused', { ...event }));
  origin.on('slowReader', (event) =>
    app.logger.warn('RTMP reader too far behind, dropped (it reconnects)', { ...event }),
  );
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
      // The local edge is ours to keep running: started again whenever it dies.
      supervise: true,
    });
    edge.on('exited', (code, signal, delayMs) =>
      app.logger.error('the local HLS edge (nginx) died; restarting it', {
        code,
        signal,
        delayMs,
      }),
    );
    edge.on('restartFailed', (error) =>
      app.logger.error('the local HLS edge (nginx) could not be restarted', {
        error: error.message,
      }),
    );
    edge.on('started', (pid) => app.logger.info('local HLS edge running', { pid }));
    // An edge left running by a previous run that was killed holds the ports: stop it first.
    await edge.stop();
    try {
      await edge.start();
    } catch (error) {
      await origin.stop();
      throw error;
    }
  }

  // The origin only remembers an edge here; it pushes each stream to every edge when that
  // stream's publish starts (and to a new edge at once for streams already live), retrying a
  // push while the stream lasts, so an edge that is down now receives the program once it is up.
  const registry = app.edges;
  const onAdded = (added: EdgeRecord): void => {
    origin.addEdge(added.id as EdgeId, added.ingestUrl);
  };
  const onRemoved = (removed: EdgeRecord): void => {
    origin.removeEdge(removed.id as EdgeId);
  };
  const restartedAt = new Map<string, number>();
  const onChanged = (): void => {
    for (const details of registry.list()) {
      if (!details.status.reachable) continue;
      const retrying = origin
        .liveStreams()
        .some((stream) =>
          origin.pushStatus(stream).some((push) => push.edge === details.id && push.retries > 0),
        );
      const last = restartedAt.get(details.id) ?? 0;
      if (!retrying || Date.now() - last < PUSH_RESTART_MIN_INTERVAL_MS) continue;
      restartedAt.set(details.id, Date.now());
      app.logger.info('edge answers again: restarting its pushes now', { edge: details.id });
      origin.addEdge(details.id as EdgeId, details.ingestUrl);
    }
  };
  for (const registered of registry.list()) onAdded(registered);
  registry.on('added', onAdded);
  registry.on('removed', onRemoved);
  registry.on('changed', onChanged);

  if (edge !== undefined && options.edge !== undefined) {
    // Viewers get the public URL; the registry probes the edge itself, whose /stat is
    // loopback-only and which a reverse proxy should not expose.
    try {
      registry.addLocal({
        publicUrl: options.edge.publicUrl ?? edge.httpUrl,
        ingestUrl: edge.ingestUrl,
        statusUrl: edge.httpUrl,
      });
    } catch (error) {
      // A stored edge with the local edge's URLs (registered while MONTAGE_LOCAL_EDGE was off):
      // start nothing rather than push to one nginx twice.
      registry.off('added', onAdded);
      registry.off('removed', onRemoved);
      registry.off('changed', onChanged);
      await origin.stop();
      await edge.stop();
      throw error;
    }
    // The edge is supervised (NginxEdge restarts it whenever it dies): once it runs again,
    // the origin pushes to it at once instead of waiting out its push back-off.
    const local = edge;
    local.on('started', () => {
      if (local.restarts === 0) return;
      origin.addEdge(LOCAL_EDGE_ID as EdgeId, local.ingestUrl);
      app.logger.info('local HLS edge restarted; pushing to it again', { url: local.httpUrl });
    });
  }
  const remote = registry.list().filter((registered) => !registered.local);
  for (const registered of remote) {
    app.logger.info('edge registered', {
      edge: registered.id,
      publicUrl: registered.publicUrl,
      ingestUrl: registered.ingestUrl,
      state: registered.state,
    });
  }
  if (edge === undefined && remote.length === 0) {
    app.logger.warn(
      'no HLS edge: viewers cannot watch (set MONTAGE_LOCAL_EDGE, or add an edge on the ' +
        'operator page or with POST /api/edges)',
    );
  }
  // The ABR ladder, encoded here once for every edge.
  const ladder = new RenditionLadder({
    origin,
    renditions: (options.renditions ?? []).map(renditionById),
    logger: app.logger.child({ component: 'renditions' }),
  });
  ladder.start();
  app.setRenditionLadder(ladder);
  app.setOrigin(origin);
  let stopped: Promise<void> | undefined;
  return {
    origin,
    ladder,
    edge,
    restartOrigin: async () => {
      app.logger.warn('restarting the RTMP origin');
      await origin.stop();
      await origin.start();
      app.logger.info('RTMP origin running again', { port: origin.port });
    },
    stop: () => {
      stopped ??= (async () => {
        registry.off('added', onAdded);
        registry.off('removed', onRemoved);
        registry.off('changed', onChanged);
        app.setOrigin(undefined);
        app.setRenditionLadder(undefined);
        await ladder.stop();
        registry.removeLocal();
        await origin.stop();
        await edge?.stop();
      })();
      return stopped;
    },
  };
}
