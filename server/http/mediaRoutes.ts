/**
 * REST for an assembly's media: the video library and where to watch.
 *
 *   POST /api/assemblies/:id/library         upload a video (raw body, `x-filename` header);
 *                                            presenter or moderator
 *   GET  /api/assemblies/:id/library/:name   the file (previews, with range requests);
 *                                            presenter or moderator, the token as a bearer
 *                                            token or `?token=` (a <video> sends no headers)
 *   DELETE /api/assemblies/:id/library/:name delete a video (audited); presenter or moderator
 *
 * Each route works in the library the path's assembly sees (MediaLibrary's scope): in assembly
 * scope, another assembly's clip of the same name is not there (404), whatever the token.
 *
 * (Where to watch is in hlsRoutes.ts.)
 * The upload is a raw body rather than multipart so the page can send the File as it is with
 * XMLHttpRequest (whose `upload.onprogress` drives the progress bar) and the server can stream
 * it to disk without a multipart parser.
 */
import { Router, type Request } from 'express';
import type { Role } from '../auth/roles.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import { InvalidArgumentError } from '../domain/errors.js';
import { parseAssemblyId, type AssemblyId } from '../domain/ids.js';
import { MediaLibrary } from '../domain/MediaLibrary.js';
import { NotFoundError } from '../wire/errors.js';
import type { AuditLog } from '../store/AuditLog.js';
import { actorOf, bearerToken } from './authenticate.js';

const LIBRARY_ROLES: readonly Role[] = ['presenter', 'moderator'];
/** Browsers label videos video/*; curl and some pages send octet-stream. */
const UPLOAD_TYPES = /^(video\/[a-z0-9.+-]+|application\/octet-stream)$/i;

export interface MediaRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  library: MediaLibrary;
  audit: AuditLog;
}

/**
 * The token of a request for a file: the bearer token, or else `?token=` (nothing else in the
 * query), because a <video> element cannot send headers.
 */
export function fileToken(req: Request): string {
  for (const key of Object.keys(req.query)) {
    if (key !== 'token') {
      throw new InvalidArgumentError(`query parameter '${key.slice(0, 40)}' is not known`);
    }
  }
  const query: unknown = req.query.token;
  if (query === undefined || req.get('authorization') !== undefined) return bearerToken(req);
  if (typeof query !== 'string' || query === '') {
    throw new InvalidArgumentError('query.token must be one token (a string)');
  }
  return query;
}

export function mediaRoutes(deps: MediaRoutesDeps): Router {
  const router = Router();
  const pathId = (req: Request): AssemblyId =>
    parseAssemblyId(String(req.params.id), 'the assembly id in the path');

  router.post('/api/assemblies/:id/library', async (req, res) => {
    const id = pathId(req);
    deps.tokens.verify(bearerToken(req), {
      roles: LIBRARY_ROLES,
      action: 'upload videos',
      assembly: id,
    });
    deps.assemblies.get(id);
    const type = (req.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    if (!UPLOAD_TYPES.test(type)) {
      throw new InvalidArgumentError(
        `Content-Type must be video/* or application/octet-stream (got '${type.slice(0, 60)}')`,
      );
    }
    const header = req.get('x-filename');
    if (header === undefined) throw new InvalidArgumentError('send the file name in x-filename');
    let name: string;
    try {
      name = decodeURIComponent(header);
    } catch {
      throw new InvalidArgumentError('x-filename must be URI-encoded');
    }
    const length = req.get('content-length');
    const video = await deps.library.save(
      id,
      name,
      req,
      length === undefined ? undefined : Number(length),
    );
    res.status(201).json({ video });
  });

  router.get('/api/assemblies/:id/library/:name', (req, res) => {
    const id = pathId(req);
    deps.tokens.verify(fileToken(req), {
      roles: LIBRARY_ROLES,
      action: 'read videos',
      assembly: id,
    });
    deps.assemblies.get(id);
    const name = String(req.params.name);
    // The real path, checked to be inside the scope's folder: a symlink there is served only
    // when it leads to a file beside it.
    const file = deps.library.find(id, name);
    if (file === undefined) throw new NotFoundError(`video '${name.slice(0, 60)}'`);
    res.sendFile(file, { dotfiles: 'deny' });
  });

  router.delete('/api/assemblies/:id/library/:name', (req, res) => {
    const id = pathId(req);
    const claims = deps.tokens.verify(bearerToken(req), {
      roles: LIBRARY_ROLES,
      action: 'delete videos',
      assembly: id,
    });
    deps.assemblies.get(id);
    const name = MediaLibrary.checkName(String(req.params.name));
    if (!deps.library.delete(id, name)) throw new NotFoundError(`video '${name.slice(0, 60)}'`);
    deps.audit.record(actorOf(claims), 'library.delete', id, { name });
    res.status(204).end();
  });

  return router;
}
