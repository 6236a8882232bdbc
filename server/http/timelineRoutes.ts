/**
 * REST for an assembly's timeline, which the watch page lays over its player:
 *
 *   GET /api/assemblies/:id/chapters    {chapters: [{atMs, at, kind, title}]} in program order:
 *                                       Go live, cuts, clips, layout changes; `atMs` is program
 *                                       time (Unix ms), the playlists' EXT-X-PROGRAM-DATE-TIME
 *
 * Anyone invited to the assembly may read it (a bearer token of any role).
 */
import { Router, type Request } from 'express';
import { ROLES } from '../auth/roles.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import type { Chapters } from '../domain/Chapters.js';
import { InvalidArgumentError } from '../domain/errors.js';
import { parseAssemblyId, type AssemblyId } from '../domain/ids.js';
import { bearerToken } from './authenticate.js';

export interface TimelineRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  chapters: Chapters;
}

/** Refuses any query parameter: these routes take none, and a typo should say so. */
export function noQuery(req: Request): void {
  const [name] = Object.keys(req.query);
  if (name !== undefined) {
    throw new InvalidArgumentError(`query parameter '${name.slice(0, 40)}' is not known`);
  }
}

export function timelineRoutes(deps: TimelineRoutesDeps): Router {
  const router = Router();
  const pathId = (req: Request): AssemblyId =>
    parseAssemblyId(String(req.params.id), 'the assembly id in the path');

  router.get('/api/assemblies/:id/chapters', (req, res) => {
    const id = pathId(req);
    noQuery(req);
    deps.tokens.verify(bearerToken(req), { roles: ROLES, action: 'read chapters', assembly: id });
    deps.assemblies.get(id);
    res.set('Cache-Control', 'no-store');
    res.json({
      chapters: deps.chapters.list(id).map((chapter) => ({
        atMs: chapter.atMs,
        at: new Date(chapter.atMs).toISOString(),
        kind: chapter.kind,
        title: chapter.title,
      })),
    });
  });

  return router;
}
