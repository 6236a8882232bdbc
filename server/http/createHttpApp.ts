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
import type { AssemblyId } from '../domain/ids.js';
import type { MediaLibrary } from '../domain/MediaLibrary.js';
import type { EdgeRegistry } from '../edges/EdgeRegistry.js';
import { assemblyRoutes } from './assemblyRoutes.js';
import { mediaRoutes } from './mediaRoutes.js';
import { pageRoutes } from './pages.js';

/** Requests carry settings, never media: anything bigger is a mistake or an attack. */
const JSON_BODY_LIMIT = '32kb';

export interface HealthReport {
  ok: boolean;
  checks: Record<string, string>;
}

export interface HttpDeps {
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
  edges: EdgeRegistry;
  isLive: (assembly: AssemblyId) => boolean;
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
    res
      .status(report.ok ? 200 : 503)
      .json({ status: report.ok ? 'ok' : 'failing', ...report.checks });
  });
  app.get('/metrics', (_req, res) => {
    res.type(METRICS_CONTENT_TYPE).send(deps.metrics.render());
  });

  app.use(assemblyRoutes(deps));
  app.use(mediaRoutes(deps));
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
