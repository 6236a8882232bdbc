/**
 * The app server: creates and wires the database, tokens, domain objects, the express app and
 * socket.io signaling, and runs them on one HTTP server. `start()` resolves once the server
 * listens; `stop()` closes everything and is safe to call twice.
 */
import { once } from 'node:events';
import type BetterSqlite3 from 'better-sqlite3';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Invites } from './auth/Invites.js';
import { EDGE_SECRET_FILE_NAME, loadOrCreateSecret } from './auth/secret.js';
import { Tokens } from './auth/Tokens.js';
import { localEdgeDir, REPO_ROOT, type AppConfig } from './config.js';
import { Archive } from './domain/Archive.js';
import { Assemblies } from './domain/Assemblies.js';
import { Chapters } from './domain/Chapters.js';
import { DiskSpace, type WatchedFolder } from './domain/DiskSpace.js';
import { ReactionLog } from './domain/ReactionLog.js';
import type { AssemblyId } from './domain/ids.js';
import { LiveAssemblies } from './domain/LiveAssemblies.js';
import { MediaLibrary } from './domain/MediaLibrary.js';
import { VideoSources } from './domain/VideoSources.js';
import { EdgeRegistry } from './edges/EdgeRegistry.js';
import type { EdgeFleetView } from './edges/EdgeView.js';
import type { RenditionLadder } from './bridge/RenditionLadder.js';
import { ContentSteering } from './hls/ContentSteering.js';
import { HlsSigner } from './hls/HlsSigner.js';
import { SOURCE_RENDITION } from './hls/renditions.js';
import { createHttpApp, type HealthPart, type HealthReport } from './http/createHttpApp.js';
import { Logger } from './log.js';
import { KurentoMediaBackend } from './media/MediaBackend.js';
import { MediaServer } from './media/MediaServer.js';
import { streamName, type RtmpOrigin } from './origin/RtmpOrigin.js';
import { MetricsRegistry } from './metrics/MetricsRegistry.js';
import { SignalingServer } from './signaling/SignalingServer.js';
import { OriginPolicy } from './security/OriginPolicy.js';
import { AssemblyStore } from './store/AssemblyStore.js';
import { AuditLog } from './store/AuditLog.js';
import { openDatabase, type SqliteDatabase } from './store/Database.js';
import { ChapterStore } from './store/ChapterStore.js';
import { ReactionStore } from './store/ReactionStore.js';
import { RecordingStore } from './store/RecordingStore.js';
import { privateDir } from './store/privateFiles.js';
import { EdgeStore } from './store/EdgeStore.js';
import { InviteStore } from './store/InviteStore.js';

export interface AppOptions {
  logger?: Logger;
  /** public/shell.html; the repository's by default. */
  shellFile?: string;
  /** Where the page bundles are; dist/public by default. */
  assetsDir?: string;
  /**
   * Connect to the media server (default true). Tests of REST and signaling alone pass false so
   * that no connection attempts run in the background.
   */
  media?: boolean;
  /**
   * The edge fleet HLS content steering reads; by default the registry's edges, probed in the
   * background (tests of the steering pass a fleet whose state they set).
   */
  fleet?: EdgeFleetView;
}

/** The objects an App is made of, shared with the token CLI (which needs no HTTP server). */
export interface Core {
  db: SqliteDatabase;
  tokens: Tokens;
  metrics: MetricsRegistry;
  assemblies: Assemblies;
  invites: Invites;
  audit: AuditLog;
}

/** Opens the database and builds the domain; `baseUrl` is asked whenever a link is built. */
export function createCore(config: AppConfig, baseUrl: () => string): Core {
  // The data folder holds the database and the secrets: its owner's only.
  privateDir(config.dataDir);
  const db = openDatabase(config.databasePath);
  const inviteStore = new InviteStore(db);
  // Every verification refuses the tokens of revoked invite links.
  const tokens = new Tokens(loadOrCreateSecret(config.jwtSecret, config.dataDir), {
    isRevoked: (inviteId) => inviteStore.isRevoked(inviteId),
    // Read at each verification, after the store below exists.
    isPublic: (assembly) => assemblyStore.find(assembly)?.publicWatch === true,
  });
  const metrics = new MetricsRegistry();
  const assemblyStore = new AssemblyStore(db);
  const audit = new AuditLog(db);
  const assemblies = new Assemblies(assemblyStore, audit, metrics);
  const invites = new Invites(tokens, inviteStore, assemblyStore, audit, baseUrl);
  return { db, tokens, metrics, assemblies, invites, audit };
}

export class App {
  readonly config: AppConfig;
  readonly logger: Logger;
  readonly core: Core;
  readonly live: LiveAssemblies;
  /** The kurento-client connection (undefined when the app runs without media). */
  readonly mediaServer: MediaServer | undefined;
  /** The edge fleet: persisted, probed in the background, operated at run time. */
  readonly edges: EdgeRegistry;
  /**
   * What HLS content steering knows of the edges: the registry itself, or, in tests of the
   * steering, a fleet whose state the test sets.
   */
  readonly fleet: EdgeFleetView;
  /** Spreads viewers over the edges (multivariant playlists and steering manifests). */
  readonly steering: ContentSteering;
  /** The browser origins that may use the REST API and socket.io. */
  readonly origins: OriginPolicy;
  #ladder: RenditionLadder | undefined;
  readonly library: MediaLibrary;
  /** Program recordings: listed, played, downloaded, deleted, and expired by retention. */
  readonly archive: Archive;
  /** Free space of the recordings and HLS folders: the panel's warnings, the recording minimum. */
  readonly disk: DiskSpace;
  /** Where things happened on each assembly's program (cuts, clips, layouts, Go live). */
  readonly chapters: Chapters;
  /** Reactions at their program time: whole-assembly totals and the replay. */
  readonly reactions: ReactionLog;
  /** The origin→edge push secret (MONTAGE_EDGE_SECRET or generated into the data dir). */
  readonly edgeSecret: string;
  /** Signs the HLS URLs viewers and probes fetch from the edges (MONTAGE_HLS_URL_TTL_SECONDS). */
  readonly hlsSigner: HlsSigner;
  readonly #backend: KurentoMediaBackend | undefined;
  #origin: RtmpOrigin | undefined;
  readonly #http: HttpServer;
  readonly #signaling: SignalingServer;
  readonly #startedAt = Date.now();
  /** /healthz's database check, prepared once (it is asked every few seconds by monitors). */
  #healthProbe: BetterSqlite3.Statement | undefined;
  #stopped: Promise<void> | undefined;

  constructor(config: AppConfig, options: AppOptions = {}) {
    this.config = config;
    this.logger = options.logger ?? new Logger(config.logLevel);
    this.core = createCore(config, () => this.publicBaseUrl);
    this.edgeSecret = loadOrCreateSecret(config.edgeSecret, config.dataDir, EDGE_SECRET_FILE_NAME);
    this.library = new MediaLibrary(config.mediaDir, config.libraryScope, config.libraryMaxBytes);
    const unscoped = this.library.unscopedVideos();
    if (unscoped.length > 0) {
      this.logger.warn(
        "videos in the top folder of MONTAGE_MEDIA_DIR are in no assembly's library " +
          '(MONTAGE_LIBRARY_SCOPE=assembly): move each into MONTAGE_MEDIA_DIR/<assembly id>/, ' +
          'or set MONTAGE_LIBRARY_SCOPE=school to share that folder with every assembly',
        { folder: config.mediaDir, count: unscoped.length, videos: unscoped.slice(0, 10) },
      );
    }
    this.archive = new Archive({
      store: new RecordingStore(this.core.db),
      audit: this.core.audit,
      logger: this.logger.child({ component: 'archive' }),
      dir: config.recordingsDir,
      retentionDays: config.recordingRetentionDays,
      assemblyName: (id) => this.core.assemblies.get(id).name,
    });
    const watched: WatchedFolder[] = [{ kind: 'recordings', path: config.recordingsDir }];
    if (config.localEdge) watched.push({ kind: 'hls', path: localEdgeDir(config) });
    this.disk = new DiskSpace({
      folders: watched,
      warnFreeMb: config.diskWarnFreeMb,
      minFreeMb: config.diskMinFreeMb,
      intervalMs: config.diskCheckIntervalMs,
      metrics: this.core.metrics,
      logger: this.logger.child({ component: 'disk' }),
    });
    this.core.assemblies.setRecordingGuard(() => this.disk.assertRecordingSpace());
    this.hlsSigner = new HlsSigner({
      edgeSecret: this.edgeSecret,
      ttlSeconds: config.hlsUrlTtlSeconds,
    });
    this.edges = new EdgeRegistry({
      store: new EdgeStore(this.core.db),
      audit: this.core.audit,
      logger: this.logger.child({ component: 'edges' }),
      seed: config.edges,
      liveStreams: () => this.#origin?.liveStreams() ?? [],
      originRtmpPort: config.rtmpPort,
      // The probes read playlists like viewers do, under a short-lived signature.
      hlsPath: (stream, file) => this.hlsSigner.path(stream, file, 60),
    });
    this.chapters = new Chapters(
      new ChapterStore(this.core.db),
      (id) => this.core.assemblies.get(id).wentLiveAt,
      this.logger.child({ component: 'chapters' }),
    );
    this.reactions = new ReactionLog(
      new ReactionStore(this.core.db),
      this.logger.child({ component: 'reactions' }),
    );
    if (options.media !== false) {
      this.mediaServer = new MediaServer({
        uri: config.mediaServerUri,
        logger: this.logger.child({ component: 'media' }),
      });
      this.#backend = new KurentoMediaBackend({
        server: this.mediaServer,
        streamKey: (id) => this.core.assemblies.get(id).streamKey,
        recordingsDir: config.recordingsDir,
        recordings: this.archive,
        logger: this.logger.child({ component: 'media' }),
        cameraGraceMs: config.cameraGraceMs,
      });
    }
    this.live = new LiveAssemblies({
      metrics: this.core.metrics,
      media: this.#backend,
      logger: this.logger.child({ component: 'live' }),
      cameraGraceMs: config.cameraGraceMs,
      onOpened: (live) => {
        this.chapters.follow(live);
        this.reactions.follow(live);
      },
    });
    this.mediaServer?.on('connected', (_client, resumed) => {
      this.setMediaServerConnected(true);
      this.live.mediaConnected(resumed);
    });
    this.mediaServer?.on('disconnected', () => this.setMediaServerConnected(false));
    // A deleted assembly's own library goes with it (assembly scope): nothing can reach it.
    this.core.assemblies.on('deleted', (assemblyId) => {
      try {
        const videos = this.library.deleteFolderOf(assemblyId);
        if (videos > 0) {
          this.logger.info("deleted the assembly's library", { assembly: assemblyId, videos });
        }
      } catch (error) {
        this.logger.warn("the deleted assembly's library could not be removed", {
          assembly: assemblyId,
          folder: this.library.folder(assemblyId),
          error: String(error),
        });
      }
    });
    // Settings changed through REST or signaling apply to the live assembly at once.
    this.core.assemblies.on('updated', (assembly) => {
      void this.live
        .find(assembly.id)
        ?.applySettings(assembly)
        .catch((error: unknown) =>
          this.logger.warn('applying settings to the live assembly failed', {
            assembly: assembly.id,
            error: String(error),
          }),
        );
    });

    this.fleet = options.fleet ?? this.edges;
    this.origins = new OriginPolicy(
      () => this.publicBaseUrl,
      config.publicBaseUrl !== undefined,
      config.allowedOrigins,
    );
    this.steering = new ContentSteering({
      fleet: this.fleet,
      ttlSeconds: config.steeringTtlSeconds,
    });
    const express = createHttpApp({
      ...this.core,
      library: this.library,
      archive: this.archive,
      chapters: this.chapters,
      reactions: this.reactions,
      edges: this.edges,
      steering: this.steering,
      hlsSigner: this.hlsSigner,
      liveRenditions: (id: AssemblyId) => this.#ladder?.liveRenditions(id) ?? [SOURCE_RENDITION],
      watchReady: (id: AssemblyId) =>
        this.#ladder?.ready(id) ?? this.#origin?.isLive(streamName(id)) ?? false,
      logger: this.logger.child({ component: 'http' }),
      inviteTtlSeconds: config.inviteTtlSeconds,
      shellFile: options.shellFile ?? join(REPO_ROOT, 'public', 'shell.html'),
      assetsDir: options.assetsDir ?? join(REPO_ROOT, 'dist', 'public'),
      health: () => this.#health(),
      origins: this.origins,
      fleet: this.fleet,
      https: config.publicBaseUrl?.startsWith('https:') === true,
      restRateLimitPerMinute: config.restRateLimitPerMinute,
      metricsToken: config.metricsToken,
    });
    this.#http = createServer(express);
    this.#signaling = new SignalingServer(this.#http, {
      tokens: this.core.tokens,
      assemblies: this.core.assemblies,
      invites: this.core.invites,
      live: this.live,
      videos: new VideoSources(this.library, config.videoUrlAllowList),
      library: this.library,
      disk: this.disk,
      logger: this.logger.child({ component: 'signaling' }),
      origins: this.origins,
      socketRateLimitPerMinute: config.socketRateLimitPerMinute,
    });
  }

  /** The port actually bound (differs from the configured one when that is 0). */
  get port(): number {
    const address = this.#http.address() as AddressInfo | null;
    return address?.port ?? this.config.httpPort;
  }

  /** Where this server is reached locally, e.g. http://127.0.0.1:8080. */
  get url(): string {
    const host = this.config.httpHost.includes(':')
      ? `[${this.config.httpHost}]`
      : this.config.httpHost;
    return `http://${host}:${this.port}`;
  }

  /** The base of links handed out: MONTAGE_PUBLIC_URL, or the local URL. */
  get publicBaseUrl(): string {
    return this.config.publicBaseUrl ?? this.url;
  }

  /** The media-server connection state, as MediaServer reports it (metrics and /healthz). */
  setMediaServerConnected(connected: boolean): void {
    this.core.metrics.mediaServerConnected.set(connected ? 1 : 0);
  }

  /**
   * Publishes every assembly's program to `origin` from now on (main.ts starts the origin after
   * the app server). Live assemblies rebuild their media so their bridges start.
   */
  setOrigin(origin: RtmpOrigin | undefined): void {
    this.#origin = origin;
    this.#backend?.setOrigin(origin);
    if (this.mediaServer?.isConnected === true) this.live.mediaConnected(false);
  }

  get origin(): RtmpOrigin | undefined {
    return this.#origin;
  }

  /** The renditions encoded from every live program (server/delivery.ts starts them). */
  setRenditionLadder(ladder: RenditionLadder | undefined): void {
    this.#ladder = ladder;
  }

  async start(): Promise<void> {
    this.#http.listen(this.config.httpPort, this.config.httpHost);
    await Promise.race([
      once(this.#http, 'listening'),
      once(this.#http, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    this.logger.info('app server listening', { url: this.url });
    this.mediaServer?.start();
    this.edges.start();
    this.archive.start();
    this.disk.start();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    await this.#signaling.close();
    this.disk.stop();
    this.mediaServer?.stop();
    await this.edges.stop();
    await this.archive.stop();
    if (this.#http.listening) {
      const closed = new Promise<void>((resolve, reject) =>
        this.#http.close((error) => (error ? reject(error) : resolve())),
      );
      this.#http.closeAllConnections();
      await closed;
    }
    this.core.db.close();
    this.logger.info('app server stopped');
  }

  /** Each part as it really is: the database, the media server, the origin, every live assembly's pipeline and bridge. */
  #health(): HealthReport {
    const parts: Record<string, HealthPart> = {};
    let serving = true;
    try {
      this.#healthProbe ??= this.core.db.prepare('SELECT 1');
      this.#healthProbe.get();
      parts.database = { ok: true, detail: 'ok' };
    } catch (error) {
      serving = false;
      parts.database = {
        ok: false,
        detail: error instanceof Error ? error.message : String(error),
      };
    }
    if (this.mediaServer !== undefined) {
      const connected = this.mediaServer.isConnected;
      parts.mediaServer = {
        ok: connected,
        detail: `${connected ? 'connected to' : 'not connected to'} ${this.mediaServer.uri}`,
      };
    }
    const origin = this.#origin;
    parts.origin =
      origin === undefined
        ? { ok: false, detail: 'not started' }
        : {
            ok: origin.listening,
            detail: origin.listening
              ? `listening on rtmp://${origin.host}:${origin.port}, ${origin.liveStreams().length} live stream(s)`
              : 'not listening',
          };
    for (const live of this.live.all()) {
      const media = live.mediaHealth;
      const reason = media.lastError === undefined ? '' : ` (last failure: ${media.lastError})`;
      parts[`assembly:${live.id}`] = {
        ok: media.state === 'running' || (media.state === 'none' && this.mediaServer === undefined),
        detail: `pipeline ${media.state}, rebuilt ${media.rebuilds} time(s)${reason}`,
      };
      const bridge = live.media?.bridge;
      if (bridge !== undefined) {
        parts[`bridge:${live.id}`] = {
          ok: bridge.state === 'running',
          detail:
            `${bridge.state}, ${bridge.restarts} restart(s)` +
            (bridge.state === 'running' ? '' : `: ${bridge.lastError.slice(-200)}`),
        };
      }
    }
    // One part per edge, from the registry's latest probes (no request waits on an edge).
    const edges = this.edges.health();
    Object.assign(parts, edges.parts);
    if (!edges.serving) {
      parts.delivery = { ok: false, detail: 'no active edge serves HLS: viewers cannot watch' };
    }
    const allOk = Object.values(parts).every((part) => part.ok);
    return {
      status: !serving ? 'failing' : allOk ? 'ok' : 'degraded',
      parts,
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
    };
  }
}
