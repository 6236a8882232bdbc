/**
 * The express application: security headers on every response, the origin check and rate limit
 * of state-changing requests, JSON bodies (small), REST, pages, their scripts, /healthz and
 * /metrics, then one error handler that maps every error with `toWireError`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Invites } from '../auth/Invites.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import type { Logger } from '../log.js';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from '../metrics/MetricsRegistry.js';
import { NotFoundError, toWireError } from '../wire/errors.js';
import { RateLimitedError } from '../domain/errors.js';
import type { EdgeFleetView } from '../edges/EdgeView.js';
import type { OriginPolicy } from '../security/OriginPolicy.js';
import { RateLimiter } from '../security/RateLimiter.js';
import { securityHeaders } from '../security/securityHeaders.js';
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

/** Methods that change state: checked for their origin and rate-limited. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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
  /** The browser origins allowed to change state (MONTAGE_PUBLIC_URL, MONTAGE_ALLOWED_ORIGINS). */
  origins: OriginPolicy;
  /** The edges viewers fetch HLS from: the pages' CSP allows their origins. */
  fleet: EdgeFleetView;
  /** MONTAGE_PUBLIC_URL is https (HSTS). */
  https: boolean;
  /** MONTAGE_RATE_LIMIT_REST_PER_MINUTE. */
  restRateLimitPerMinute: number;
  /** MONTAGE_METRICS_TOKEN: when set, /metrics needs it as a bearer token. */
  metricsToken: string | undefined;
}

/** The bearer token of a request (header or `?token=`), the key of its rate limit. */
function requestToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header !== undefined && /^Bearer\s+\S+$/i.test(header)) return header.split(/\s+/)[1];
  const query = req.query.token;
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/** Whether `header` is `Bearer <expected>`, compared in constant time. */
function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (given === undefined) return false;
  // Digests have one length, so timingSafeEqual never throws and the length does not leak.
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders({ origins: deps.origins, fleet: deps.fleet, https: deps.https }));

  // A browser page of another site must not act with a token it got hold of (or a cookie one
  // day): state changes from a foreign Origin are refused. Without Origin it is no browser's
  // cross-site request (curl, edges, scripts), and the token alone decides.
  app.use((req, res, next) => {
    const origin = req.get('origin');
    if (!STATE_CHANGING.has(req.method) || deps.origins.allows(origin)) {
      next();
      return;
    }
    deps.logger.warn('foreign origin refused', { method: req.method, path: req.path, origin });
    res.status(403).json({
      error: { code: 'origin_forbidden', message: deps.origins.refusal(origin ?? '') },
    });
  });

  const limiter = new RateLimiter(deps.restRateLimitPerMinute);
  app.use((req, _res, next) => {
    if (!STATE_CHANGING.has(req.method)) {
      next();
      return;
    }
    const token = requestToken(req);
    const key =
      token === undefined ? `address:${req.socket.remoteAddress ?? ''}` : `token:${token}`;
    if (limiter.take(key)) {
      next();
      return;
    }
    next(
      new RateLimitedError(
        `too many requests that change something: at most ${limiter.perMinute} a minute ` +
          '(MONTAGE_RATE_LIMIT_REST_PER_MINUTE); wait a few seconds and try again',
      ),
    );
  });

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
  app.get('/metrics', (req, res) => {
    // The metrics name live assemblies: with MONTAGE_METRICS_TOKEN only the scraper reads them.
    const token = deps.metricsToken;
    if (token !== undefined && !bearerMatches(req.get('authorization'), token)) {
      res.set('WWW-Authenticate', 'Bearer realm="metrics"');
      res.status(401).json({
        error: {
          code: 'token_missing',
          message: 'GET /metrics needs Authorization: Bearer <MONTAGE_METRICS_TOKEN>',
        },
      });
      return;
    }
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
