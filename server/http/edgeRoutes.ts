/**
 * REST for the edge fleet and the audit log, for operators only (an operator token, minted by
 * `npm run token -- --role operator`). Each route validates its input, calls the edge registry
 * and returns JSON; errors go to the app's error handler (`toWireError`).
 *
 *   GET    /api/edges                 {edges: EdgeWire[]}: every edge with its live status
 *   GET    /api/edges/:id             {edge}
 *   POST   /api/edges                 {id?, publicUrl, ingestUrl, statusUrl?} → 201 {edge}; the
 *                                     origin pushes to it within moments, no restart
 *   POST   /api/edges/:id/drain       {edge}: no new viewers (the origin keeps pushing)
 *   POST   /api/edges/:id/activate    {edge}: new viewers again
 *   DELETE /api/edges/:id             204: not pushed to, not handed out; the local edge refuses
 *   GET    /api/audit?limit=N         {entries: AuditEntryWire[]}: newest first (N 1 to 500,
 *                                     default 50)
 */
import { Router, type Request } from 'express';
import type { Tokens } from '../auth/Tokens.js';
import { EDGE_ID } from '../config.js';
import { InvalidArgumentError } from '../domain/errors.js';
import type { EdgeDetails, EdgeRegistry } from '../edges/EdgeRegistry.js';
import type { AuditEntryWire, EdgeWire } from '../edges/wire.js';
import type { AuditLog } from '../store/AuditLog.js';
import { object, optional, string } from '../wire/validate.js';
import { actorOf, bearerToken } from './authenticate.js';

/** URLs are checked by the registry (like MONTAGE_EDGES); here only their type and length. */
const url = string({ max: 2000, what: 'a URL of at most 2000 characters' });
const newEdgeBody = object({
  id: optional(string({ max: 64, what: 'an edge id of 1 to 64 characters' })),
  publicUrl: url,
  ingestUrl: url,
  statusUrl: optional(url),
});

const MAX_AUDIT_ENTRIES = 500;
const DEFAULT_AUDIT_ENTRIES = 50;

/** The registry's edge as the wire shape; the assignment checks that the two agree. */
function toWire(edge: EdgeDetails): EdgeWire {
  const wire: EdgeWire = edge;
  return wire;
}

export interface EdgeRoutesDeps {
  tokens: Tokens;
  edges: EdgeRegistry;
  audit: AuditLog;
}

export function edgeRoutes(deps: EdgeRoutesDeps): Router {
  const { tokens, edges } = deps;
  const router = Router();

  const operator = (req: Request, action: string): string =>
    actorOf(tokens.verify(bearerToken(req), { roles: ['operator'], action }));

  /** The path's edge id, checked before any token work so a bad id gets a clear 400. */
  const pathId = (req: Request): string => {
    const id = String(req.params.id);
    if (!EDGE_ID.test(id)) {
      throw new InvalidArgumentError(
        `the edge id in the path must be 1 to 64 of A-Z a-z 0-9 . _ - (got '${id.slice(0, 70)}')`,
      );
    }
    return id;
  };

  router.get('/api/edges', (req, res) => {
    operator(req, 'list edges');
    res.set('Cache-Control', 'no-store');
    res.json({ edges: edges.list().map(toWire) });
  });

  router.get('/api/edges/:id', (req, res) => {
    const id = pathId(req);
    operator(req, 'read edges');
    res.set('Cache-Control', 'no-store');
    res.json({ edge: toWire(edges.get(id)) });
  });

  router.post('/api/edges', (req, res) => {
    const actor = operator(req, 'add edges');
    const body = newEdgeBody(req.body, 'body');
    const edge = edges.add(actor, body);
    res
      .status(201)
      .location(`/api/edges/${edge.id}`)
      .json({ edge: toWire(edge) });
  });

  router.post('/api/edges/:id/drain', (req, res) => {
    const id = pathId(req);
    const actor = operator(req, 'drain edges');
    res.json({ edge: toWire(edges.drain(actor, id)) });
  });

  router.post('/api/edges/:id/activate', (req, res) => {
    const id = pathId(req);
    const actor = operator(req, 'activate edges');
    res.json({ edge: toWire(edges.activate(actor, id)) });
  });

  router.delete('/api/edges/:id', (req, res) => {
    const id = pathId(req);
    const actor = operator(req, 'remove edges');
    edges.remove(actor, id);
    res.status(204).end();
  });

  router.get('/api/audit', (req, res) => {
    operator(req, 'read the audit log');
    const text = req.query.limit;
    let limit = DEFAULT_AUDIT_ENTRIES;
    if (text !== undefined) {
      limit = typeof text === 'string' && /^\d{1,4}$/.test(text) ? Number(text) : 0;
      if (limit < 1 || limit > MAX_AUDIT_ENTRIES) {
        throw new InvalidArgumentError(
          `limit must be an integer from 1 to ${MAX_AUDIT_ENTRIES} (got ${JSON.stringify(text).slice(0, 40)})`,
        );
      }
    }
    const entries: AuditEntryWire[] = deps.audit.recent(limit);
    res.set('Cache-Control', 'no-store');
    res.json({ entries });
  });

  return router;
}
