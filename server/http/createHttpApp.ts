/**
 * The express application: JSON bodies (small), REST, pages, their scripts, /healthz and
 * /metrics, then one error handler that maps every error with `toWireError`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Invites } from '../auth/Invites.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import type { Logger } from '../log.js';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from '../metrics/MetricsRegistry.js';
import { NotFoundError, toWireError } from '../wire/errors.js';
import type { MediaLibrary } from '../domain/MediaLibrary.js';
import type { EdgeRegistry } from '../edges/EdgeRegistry.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Archive } from '../domain/Archive.js';
import type { Chapters } from '../domain/Chapters.js';
import type { ReactionLog } from '../domain/ReactionLog.js';
import { archiveRoutes } from './archiveRoutes.js';
import { timelineRoutes } from './timelineRoutes.js';
import { assemblyRoutes } from './assemblyRoutes.js';
import { edgeRoutes } from './edgeRoutes.js';
import { hlsRoutes, type HlsRoutesDeps } from './hlsRoutes.js';
import { mediaRoutes } from './mediaRoutes.js';
import { pageRoutes } from './pages.js';

/** Requests carry settings, never media: anything bigger is a mistake or an attack. */
const JSON_BODY_LIMIT = '32kb';

/** One part of the system as /healthz reports it. */
export interface HealthPart {
  ok: boolean;
  /** What it is doing, or why it is not ok, for operators. */
  detail: string;
}

export interface HealthReport {
  /**
   * `failing` (HTTP 503): this server cannot serve (its database is gone). `degraded` (200):
   * it serves, but some part is down (an assembly's pipeline rebuilding, an edge failing).
   */
  status: 'ok' | 'degraded' | 'failing';
  /** Named parts: database, mediaServer, origin, assembly:<id>, bridge:<id>, edge:<id>. */
  parts: Record<string, HealthPart>;
  uptimeSeconds: number;
}

export interface HttpDeps extends HlsRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  invites: Invites;
  metrics: MetricsRegistry;
  logger: Logger;
  inviteTtlSeconds: number;
  /** public/shell.html */
  shellFile: string;
  /** dist/public: the esbuild bundles served under /assets. */
  assetsDir: string;
  health: () => HealthReport;
  library: MediaLibrary;
  archive: Archive;
  chapters: Chapters;
  reactions: ReactionLog;
  edges: EdgeRegistry;
  audit: AuditLog;
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: JSON_BODY_LIMIT }));

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      deps.logger.debug('http', {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    const report = deps.health();
    res.set('Cache-Control', 'no-store');
    res.status(report.status === 'failing' ? 503 : 200).json(report);
  });
  app.get('/metrics', (_req, res) => {
    res.type(METRICS_CONTENT_TYPE).send(deps.metrics.render());
  });

  // First: every viewer's player asks here (once, then every steering TTL), thousands at once.
  app.use(hlsRoutes(deps));
  app.use(assemblyRoutes(deps));
  app.use(mediaRoutes(deps));
  app.use(archiveRoutes(deps));
  app.use(timelineRoutes(deps));
  app.use(edgeRoutes(deps));
  app.use(pageRoutes(deps));
  app.use('/assets', express.static(deps.assetsDir, { index: false, fallthrough: true }));

  app.use((req: Request) => {
    throw new NotFoundError(`${req.method} ${req.path}`);
  });
  // Express recognises an error handler by its four parameters.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, error: wire, unexpected } = toWireError(error);
    if (unexpected) deps.logger.error('request failed', { error });
    res.status(status).json({ error: wire });
  });
  return app;
}
