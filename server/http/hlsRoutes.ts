/**
 * Where viewers watch: the watch API, the multivariant playlists and the HLS content steering
 * manifest of an assembly.
 *
 *   GET /api/assemblies/:id/watch                   {phase, name, live, liveUrl, historyUrl, hls};
 *                                                   Bearer
 *   GET /api/assemblies/:id/watch/signature         {expires, signature, prefix, ttlSeconds}; Bearer
 *   GET /api/assemblies/:id/hls/live.m3u8           multivariant playlist, live window
 *   GET /api/assemblies/:id/hls/history.m3u8        multivariant playlist, the whole assembly
 *   GET /api/assemblies/:id/hls/steering.json       steering manifest (SERVER-URI, RELOAD-URI)
 *
 * Players fetch the last three without headers, so those carry the token in the query
 * (`?token=`), with the player's steering `session` (minted by the watch API) and, for the
 * manifest, the playlist `kind` and what the player adds itself: `_HLS_pathway` (where it is)
 * and `_HLS_throughput` (its bandwidth estimate). Anyone invited to the assembly may watch.
 * Nothing here is cacheable: each answer is for one player.
 *
 * The edges serve HLS under signed, expiring paths only (server/hls/HlsSigner.ts): the
 * multivariant playlists and the steering manifests list signed media playlist URLs, and the
 * watch API hands out the current signature (`hls`), which a player fetches again from
 * `watch/signature` well before it expires and puts in front of every later request
 * (public/src/watch.ts). A viewer whose token expired gets no new signature, so its HLS stops at
 * most one signature lifetime later. An operator may make an assembly public
 * (`PUT /api/assemblies/:id/public-watch`): then these routes need no token at all, and a token
 * that is given is not checked (an expired invite still watches a public event).
 */
import { Router, type Request, type Response } from 'express';
import { ROLES } from '../auth/roles.js';
import type { Tokens } from '../auth/Tokens.js';
import type { Assemblies } from '../domain/Assemblies.js';
import { AssemblyNotFoundError, InvalidArgumentError } from '../domain/errors.js';
import type { Assembly } from '../store/AssemblyStore.js';
import { parseAssemblyId, type AssemblyId } from '../domain/ids.js';
import {
  newSessionId,
  parseSessionId,
  PATHWAY_ID,
  type ContentSteering,
  type SteeringSessionId,
} from '../hls/ContentSteering.js';
import {
  mediaPlaylistUrl,
  PLAYLIST_KINDS,
  renderMultivariant,
  type PlaylistKind,
} from '../hls/multivariant.js';
import type { HlsSigner } from '../hls/HlsSigner.js';
import type { Rendition } from '../hls/renditions.js';
import { NotFoundError } from '../wire/errors.js';
import { bearerToken, queryToken } from './authenticate.js';

export interface HlsRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  steering: ContentSteering;
  /** The renditions of the assembly's program that are live on the origin, the source first. */
  liveRenditions: (assembly: AssemblyId) => readonly Rendition[];
  /** Whether viewers should start: the program is live (with its renditions, or it waited). */
  watchReady: (assembly: AssemblyId) => boolean;
  /** Signs the media playlist URLs the edges serve. */
  hlsSigner: HlsSigner;
}

/** Query parameters each route understands; `_HLS_*` ones are the player's (reserved by HLS). */
const PLAYLIST_PARAMS = new Set(['token', 'session']);
const MANIFEST_PARAMS = new Set(['token', 'session', 'kind', '_HLS_pathway', '_HLS_throughput']);
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/** The query as single strings, refusing repeated or unknown parameters. */
function query(req: Request, allowed: Set<string>): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of Object.entries(req.query)) {
    // Other `_HLS_` parameters are HLS's to add in later versions: tolerated, not used.
    if (!allowed.has(name)) {
      if (name.startsWith('_HLS_')) continue;
      throw new InvalidArgumentError(
        `unknown query parameter '${name.slice(0, 40)}'; allowed: ${[...allowed].join(', ')}`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`query parameter '${name}' must be given once`);
    }
    params.set(name, value);
  }
  return params;
}

function parseKind(text: string | undefined, what: string): PlaylistKind {
  if (text === undefined || !(PLAYLIST_KINDS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`${what} must be one of ${PLAYLIST_KINDS.join(', ')}`);
  }
  return text as PlaylistKind;
}

/** The steering manifest's URL, relative to the multivariant playlist and to itself. */
function steeringUri(
  kind: PlaylistKind,
  session: SteeringSessionId,
  token: string | undefined,
): string {
  const base = `steering.json?kind=${kind}&session=${session}`;
  return token === undefined ? base : `${base}&token=${encodeURIComponent(token)}`;
}

/** The token a request carries, if any: the header or the query, never both read as missing. */
function givenToken(req: Request, from: 'header' | 'query'): string | undefined {
  if (from === 'header')
    return req.get('authorization') === undefined ? undefined : bearerToken(req);
  return req.query.token === undefined ? undefined : queryToken(req);
}

export function hlsRoutes(deps: HlsRoutesDeps): Router {
  const router = Router();
  const pathId = (req: Request): AssemblyId =>
    parseAssemblyId(String(req.params.id), 'the assembly id in the path');
  const noStore = (res: Response): Response => res.set('Cache-Control', 'no-store');

  /**
   * Checks that the request may watch `id`: a valid viewer's (or crew's) token of the assembly,
   * or none at all when the assembly is public. Returns the token given (undefined when none).
   */
  const authorize = (
    req: Request,
    id: AssemblyId,
    from: 'header' | 'query',
  ): { token: string | undefined; assembly: Assembly } => {
    const token = givenToken(req, from);
    const assembly = deps.assemblies.find(id);
    if (assembly?.publicWatch === true) return { token, assembly };
    // Not public (or unknown: the token check says so without revealing which ids exist).
    const required = from === 'header' ? bearerToken(req) : queryToken(req);
    deps.tokens.verify(required, { roles: ROLES, action: 'watch', assembly: id });
    return { token: required, assembly: deps.assemblies.get(id) };
  };

  router.get('/api/assemblies/:id/watch/signature', (req, res) => {
    const id = pathId(req);
    authorize(req, id, 'header');
    noStore(res).json({ ...deps.hlsSigner.sign(id), ttlSeconds: deps.hlsSigner.ttlSeconds });
  });

  router.get('/api/assemblies/:id/watch', (req, res) => {
    const id = pathId(req);
    const { token, assembly } = authorize(req, id, 'header');
    // One steering session per opened page: the live and the history playlists share it, so a
    // viewer who seeks back stays on the same edge.
    const session = newSessionId();
    const base = `/api/assemblies/${id}/hls`;
    const params =
      token === undefined
        ? `session=${session}`
        : `token=${encodeURIComponent(token)}&session=${session}`;
    noStore(res).json({
      // Backstage the program exists but reaches nobody: the page shows a slate until Go live.
      phase: assembly.phase,
      name: assembly.name,
      live: assembly.phase === 'live' && deps.watchReady(id),
      liveUrl: `${base}/live.m3u8?${params}`,
      historyUrl: `${base}/history.m3u8?${params}`,
      publicWatch: assembly.publicWatch,
      // What the playlists' media URLs are signed with now; `watch/signature` gives the next.
      hls: { ...deps.hlsSigner.sign(id), ttlSeconds: deps.hlsSigner.ttlSeconds },
    });
  });

  router.get('/api/assemblies/:id/hls/:file', (req, res) => {
    const id = pathId(req);
    const file = String(req.params.file);
    if (file === 'steering.json') {
      steeringManifest(req, res, id);
      return;
    }
    const match = /^(live|history)\.m3u8$/.exec(file);
    if (match === null) throw new NotFoundError(`playlist '${file.slice(0, 40)}'`);
    const kind = parseKind(match[1], 'the playlist');
    const params = query(req, PLAYLIST_PARAMS);
    const { token } = authorize(req, id, 'query');
    const sessionText = params.get('session');
    const session =
      sessionText === undefined ? undefined : parseSessionId(sessionText, 'query.session');
    const opened = deps.steering.open(id, session);
    if (opened === undefined) throw new NotFoundError('an HLS edge');
    const playlist = renderMultivariant({
      assembly: id,
      kind,
      edges: opened.edges,
      renditions: deps.liveRenditions(id),
      steeringUri: steeringUri(kind, opened.session, token),
      pathwayId: opened.pathwayId,
      signature: deps.hlsSigner.sign(id),
    });
    noStore(res).type(PLAYLIST_TYPE).send(playlist);
  });

  const steeringManifest = (req: Request, res: Response, id: AssemblyId): void => {
    const params = query(req, MANIFEST_PARAMS);
    // Not `authorize`: a deleted assembly gets 410 below, once its token was checked.
    const token = givenToken(req, 'query');
    if (deps.assemblies.find(id)?.publicWatch !== true) {
      deps.tokens.verify(queryToken(req), { roles: ROLES, action: 'watch', assembly: id });
    }
    const kind = parseKind(params.get('kind'), 'query.kind');
    const session = parseSessionId(params.get('session') ?? '', 'query.session');
    const pathway = params.get('_HLS_pathway');
    // '.' is what a player reports before it knows any pathway (HLS content steering).
    if (pathway !== undefined && pathway !== '.' && !PATHWAY_ID.test(pathway)) {
      throw new InvalidArgumentError('query._HLS_pathway must be a pathway id');
    }
    const throughput = params.get('_HLS_throughput');
    if (throughput !== undefined && !/^\d{1,12}$/.test(throughput)) {
      throw new InvalidArgumentError('query._HLS_throughput must be bits per second');
    }
    try {
      deps.assemblies.get(id);
    } catch (error) {
      if (!(error instanceof AssemblyNotFoundError)) throw error;
      // 410 tells the player to stop asking (HLS content steering); it keeps its pathways.
      noStore(res)
        .status(410)
        .json({ error: { code: 'gone', message: 'the assembly was deleted' } });
      return;
    }
    const steered = deps.steering.steer(id, session, pathway === '.' ? undefined : pathway);
    const renditions = deps.liveRenditions(id);
    const signature = deps.hlsSigner.sign(id);
    const manifest: Record<string, unknown> = {
      VERSION: 1,
      TTL: deps.steering.ttlSeconds,
      'RELOAD-URI': steeringUri(kind, session, token),
      'PATHWAY-PRIORITY': steered.priority,
    };
    if (steered.clones.length > 0 && steered.cloneBase !== undefined) {
      const base = steered.cloneBase;
      // Edges added after the player loaded its playlist: cloned from one it knows, with the
      // full URL of every variant (an edge differs by more than its host name).
      manifest['PATHWAY-CLONES'] = steered.clones.map((edge) => ({
        'BASE-ID': base,
        ID: edge.id,
        'URI-REPLACEMENT': {
          HOST: new URL(edge.publicUrl).hostname,
          'PER-VARIANT-URIS': Object.fromEntries(
            renditions.map((rendition) => [
              rendition.stableId,
              mediaPlaylistUrl(edge, id, rendition, kind, signature),
            ]),
          ),
        },
      }));
    }
    noStore(res).json(manifest);
  };

  return router;
}
