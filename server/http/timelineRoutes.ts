/**
 * REST for an assembly's timeline, which the watch page lays over its player:
 *
 *   GET /api/assemblies/:id/chapters    {chapters: [{atMs, at, kind, title}]} in program order:
 *                                       Go live, cuts, clips, layout changes; `atMs` is program
 *                                       time (Unix ms), the playlists' EXT-X-PROGRAM-DATE-TIME
 *   GET /api/assemblies/:id/reactions?from=MS&to=MS
 *                                       {totals, reactions: [{atMs, reaction, count}]}: the
 *                                       totals of the whole assembly, and the reactions sent at
 *                                       program times in [from, to) (at most 10 minutes), by
 *                                       second, for the replay over a viewer's past picture
 *
 * Anyone invited to the assembly may read it (a bearer token of any role).
 */
import { Router, type Request } from 'express';
import { ROLES } from '../auth/roles.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import type { Chapters } from '../domain/Chapters.js';
import { MAX_REPLAY_WINDOW_MS, type ReactionLog } from '../domain/ReactionLog.js';
import { InvalidArgumentError } from '../domain/errors.js';
import { parseAssemblyId, type AssemblyId } from '../domain/ids.js';
import { bearerToken } from './authenticate.js';

export interface TimelineRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  chapters: Chapters;
  reactions: ReactionLog;
}

/** A query parameter that must be a whole number of Unix milliseconds. */
function unixMs(req: Request, name: string): number {
  const value: unknown = req.query[name];
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw new InvalidArgumentError(
      `query.${name} must be a program time in Unix milliseconds (got ${value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 40)})`,
    );
  }
  return Number(value);
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

  router.get('/api/assemblies/:id/reactions', (req, res) => {
    const id = pathId(req);
    const [unknown] = Object.keys(req.query).filter((name) => name !== 'from' && name !== 'to');
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`query parameter '${unknown.slice(0, 40)}' is not known`);
    }
    const from = unixMs(req, 'from');
    const to = unixMs(req, 'to');
    if (to <= from || to - from > MAX_REPLAY_WINDOW_MS) {
      throw new InvalidArgumentError(
        `query.to must be after query.from by at most ${MAX_REPLAY_WINDOW_MS} ms`,
      );
    }
    deps.tokens.verify(bearerToken(req), { roles: ROLES, action: 'read reactions', assembly: id });
    deps.assemblies.get(id);
    res.set('Cache-Control', 'no-store');
    res.json({
      totals: deps.reactions.totals(id),
      reactions: deps.reactions.between(id, from, to).map((second) => ({
        atMs: second.secondMs,
        reaction: second.reaction,
        count: second.count,
      })),
    });
  });

  return router;
}
