/**
 * REST for the archive of program recordings (server/domain/Archive.ts).
 *
 *   GET    /api/assemblies/:id/recordings                     list, newest first, each with
 *                                                             date, duration, size, deletesAt
 *   GET    /api/assemblies/:id/recordings/:recordingId/file   play it (HTTP range requests:
 *                                                             206 with Content-Range)
 *   GET    /api/assemblies/:id/recordings/:recordingId/download
 *                                                             the same bytes as an attachment
 *   DELETE /api/assemblies/:id/recordings/:recordingId        delete file and row (audited)
 *
 * A moderator token of the assembly or an operator token, as `Authorization: Bearer` or, for the
 * two file routes only, as `?token=`: a <video> element and a download link cannot send headers.
 */
import { Router, type Request } from 'express';
import type { Role } from '../auth/roles.js';
import type { TokenClaims, Tokens } from '../auth/Tokens.js';
import type { Archive } from '../domain/Archive.js';
import type { Assemblies } from '../domain/Assemblies.js';
import { parseAssemblyId, parseRecordingId, type AssemblyId } from '../domain/ids.js';
import type { Recording } from '../store/RecordingStore.js';
import { NotFoundError } from '../wire/errors.js';
import { actorOf, bearerToken } from './authenticate.js';
import { fileToken } from './mediaRoutes.js';

const MANAGERS: readonly Role[] = ['moderator', 'operator'];

export interface ArchiveRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  archive: Archive;
}

/** "Friday assembly 2026-12-06 0715.webm": what a download is saved as. */
export function downloadName(recording: Recording): string {
  const safe = recording.assemblyName
    .replace(/[^A-Za-z0-9 ._()-]+/g, '_')
    .slice(0, 80)
    .trim();
  const stamp = recording.startedAt.slice(0, 16).replace('T', ' ').replace(':', '');
  const extension = recording.file.slice(recording.file.lastIndexOf('.'));
  return `${safe === '' ? 'recording' : safe} ${stamp}${extension}`;
}

export function archiveRoutes(deps: ArchiveRoutesDeps): Router {
  const router = Router();
  const pathId = (req: Request): AssemblyId =>
    parseAssemblyId(String(req.params.id), 'the assembly id in the path');

  const manager = (req: Request, action: string, assembly: AssemblyId): TokenClaims =>
    deps.tokens.verify(bearerToken(req), { roles: MANAGERS, action, assembly });

  const fileReader = (req: Request, assembly: AssemblyId): TokenClaims =>
    deps.tokens.verify(fileToken(req), { roles: MANAGERS, action: 'play recordings', assembly });

  const recordingOf = (req: Request, assembly: AssemblyId): Recording =>
    deps.archive.get(
      assembly,
      parseRecordingId(String(req.params.recordingId), 'the recording id in the path'),
    );

  router.get('/api/assemblies/:id/recordings', (req, res) => {
    const id = pathId(req);
    manager(req, 'list recordings', id);
    deps.assemblies.get(id);
    res.set('Cache-Control', 'no-store');
    res.json({ recordings: deps.archive.list(id), retentionDays: deps.archive.retentionDays });
  });

  for (const [route, attachment] of [
    ['file', false],
    ['download', true],
  ] as const) {
    router.get(`/api/assemblies/:id/recordings/:recordingId/${route}`, (req, res, next) => {
      const id = pathId(req);
      fileReader(req, id);
      const recording = recordingOf(req, id);
      if (attachment) res.attachment(downloadName(recording));
      res.set('Cache-Control', 'private, no-store');
      // sendFile answers Range requests (206, Content-Range) and conditional GETs itself.
      res.sendFile(
        deps.archive.path(recording),
        { dotfiles: 'deny', acceptRanges: true },
        (error?: Error & { code?: string; status?: number }) => {
          if (error === undefined || res.headersSent) return;
          if (error.code === 'ENOENT') {
            next(new NotFoundError(`the file of recording '${recording.id}'`));
          } else if (error.status === 416) {
            // send already set "Content-Range: bytes */SIZE", which tells the player the size.
            res.status(416).json({
              error: {
                code: 'range_not_satisfiable',
                message: 'the requested byte range is outside the recording',
              },
            });
          } else {
            next(error);
          }
        },
      );
    });
  }

  router.delete('/api/assemblies/:id/recordings/:recordingId', (req, res) => {
    const id = pathId(req);
    const claims = manager(req, 'delete recordings', id);
    const recording = recordingOf(req, id);
    deps.archive.delete(actorOf(claims), id, recording.id);
    res.status(204).end();
  });

  return router;
}
