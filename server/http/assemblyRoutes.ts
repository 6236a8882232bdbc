/**
 * REST for assemblies and their invites. Each route validates its input, authorises the token,
 * calls one domain object and returns JSON; errors go to the app's error handler, which maps them
 * with `toWireError`.
 *
 *   POST   /api/assemblies                  create (moderator or operator); backstage unless
 *                                           {live: true} (an unattended stream)
 *   GET    /api/assemblies                  list (an operator sees all, a moderator their own)
 *   GET    /api/assemblies/:id              read
 *   PATCH  /api/assemblies/:id              change name, layout, maxTiles, recording, dvrMinutes
 *   DELETE /api/assemblies/:id              delete (and its invites)
 *   POST   /api/assemblies/:id/live         Go live: backstage → live (presenter, moderator)
 *   POST   /api/assemblies/:id/end          End: → ended, for good (presenter, moderator)
 *   PUT    /api/assemblies/:id/public-watch {publicWatch: boolean}
 *                                           operators only: a public event, which anyone with
 *                                           the assembly's id may watch without a viewer token
 *                                           (the watch API then hands out signed HLS URLs to
 *                                           all); audited
 *   POST   /api/assemblies/:id/invites      mint an invite link {role, ttl?, label?}
 *   GET    /api/assemblies/:id/invites      list every minted invite, with its label, expiry
 *                                           and revokedAt (null while it works)
 *   POST   /api/assemblies/:id/invites/:inviteId/revoke
 *                                           revoke an invite: its tokens are refused from now
 *                                           on (401 token_revoked) and the connections opened
 *                                           with them close; 200 {invite}, again 200 if it
 *                                           already was, 404 invite_not_found if the assembly
 *                                           has no such invite
 *
 * Every route needs a moderator token of that assembly or an operator token. `label` is where or
 * who the link is for ("Room 12", 1 to 40 printable characters, trimmed); a camera invite's label
 * names the camera.
 */
import { Router, type Request } from 'express';
import type { Invites } from '../auth/Invites.js';
import {
  INVITE_LABEL_MAX_LENGTH,
  INVITE_LABEL_PATTERN,
  INVITE_LABEL_RULE,
} from '../auth/inviteLabel.js';
import { ALL_ASSEMBLIES, INVITE_ROLES, type Role } from '../auth/roles.js';
import type { TokenClaims, Tokens } from '../auth/Tokens.js';
import { LIMITS, toView, type Assemblies } from '../domain/Assemblies.js';
import { parseAssemblyId, parseInviteId, type AssemblyId } from '../domain/ids.js';
import { LAYOUTS } from '../store/AssemblyStore.js';
import {
  boolean,
  integer,
  nonEmptyObject,
  object,
  oneOf,
  optional,
  string,
} from '../wire/validate.js';
import { actorOf, bearerToken } from './authenticate.js';

const MANAGERS: readonly Role[] = ['moderator', 'operator'];
const MAX_INVITE_TTL_SECONDS = 366 * 24 * 3600;

const settingsShape = {
  name: string({ max: LIMITS.nameLength }),
  layout: optional(oneOf(LAYOUTS)),
  maxTiles: optional(integer(1, LIMITS.maxTiles)),
  recording: optional(boolean()),
  dvrMinutes: optional(integer(0, LIMITS.dvrMinutes)),
};
const createBody = object({ ...settingsShape, live: optional(boolean()) });
/** Who may go live and end an assembly: the crew that runs it. */
const RUNNERS: readonly Role[] = ['presenter', 'moderator', 'operator'];
const patchBody = nonEmptyObject({ ...settingsShape, name: optional(settingsShape.name) });
const inviteBody = object({
  role: oneOf(INVITE_ROLES),
  ttl: optional(integer(60, MAX_INVITE_TTL_SECONDS)),
  label: optional(
    string({
      max: INVITE_LABEL_MAX_LENGTH,
      pattern: INVITE_LABEL_PATTERN,
      what: INVITE_LABEL_RULE,
    }),
  ),
});
const revokeBody = optional(object({}));
const publicWatchBody = object({ publicWatch: boolean() });

export interface AssemblyRoutesDeps {
  tokens: Tokens;
  assemblies: Assemblies;
  invites: Invites;
  /** Invite lifetime when a request names none, in seconds. */
  inviteTtlSeconds: number;
}

export function assemblyRoutes(deps: AssemblyRoutesDeps): Router {
  const { tokens, assemblies, invites } = deps;
  const router = Router();

  /** The path's assembly id, checked before any token work so a bad id gets a clear 400. */
  const pathId = (req: Request): AssemblyId =>
    parseAssemblyId(String(req.params.id), 'the assembly id in the path');

  const manager = (req: Request, action: string, assembly?: AssemblyId): TokenClaims =>
    tokens.verify(bearerToken(req), { roles: MANAGERS, action, assembly });

  router.post('/api/assemblies', (req, res) => {
    const claims = manager(req, 'create assemblies');
    const { live, ...settings } = createBody(req.body, 'body');
    const actor = actorOf(claims);
    const assembly = assemblies.create(actor, settings, { live });
    // The creator gets the first moderator link, so that the new assembly can be run at once.
    const { invite } = invites.mint(actor, assembly.id, 'moderator', deps.inviteTtlSeconds);
    res.status(201).json({
      assembly: toView(assembly),
      moderatorInvite: { id: invite.id, url: invite.url, expiresAt: invite.expiresAt },
    });
  });

  router.get('/api/assemblies', (req, res) => {
    const claims = manager(req, 'list assemblies');
    const visible = assemblies
      .list()
      .filter((a) => claims.assembly === ALL_ASSEMBLIES || a.id === claims.assembly);
    res.json({ assemblies: visible.map(toView) });
  });

  router.get('/api/assemblies/:id', (req, res) => {
    const id = pathId(req);
    manager(req, 'read assemblies', id);
    res.json({ assembly: toView(assemblies.get(id)) });
  });

  router.patch('/api/assemblies/:id', (req, res) => {
    const id = pathId(req);
    const claims = manager(req, 'change assemblies', id);
    const changes = patchBody(req.body, 'body');
    res.json({ assembly: toView(assemblies.update(actorOf(claims), id, changes)) });
  });

  router.delete('/api/assemblies/:id', (req, res) => {
    const id = pathId(req);
    const claims = manager(req, 'delete assemblies', id);
    assemblies.delete(actorOf(claims), id);
    res.status(204).end();
  });

  router.post('/api/assemblies/:id/live', (req, res) => {
    const id = pathId(req);
    const claims = tokens.verify(bearerToken(req), {
      roles: RUNNERS,
      action: 'take assemblies live',
      assembly: id,
    });
    object({})(req.body ?? {}, 'body');
    res.json({ assembly: toView(assemblies.goLive(actorOf(claims), id)) });
  });

  router.post('/api/assemblies/:id/end', (req, res) => {
    const id = pathId(req);
    const claims = tokens.verify(bearerToken(req), {
      roles: RUNNERS,
      action: 'end assemblies',
      assembly: id,
    });
    object({})(req.body ?? {}, 'body');
    res.json({ assembly: toView(assemblies.end(actorOf(claims), id)) });
  });

  router.put('/api/assemblies/:id/public-watch', (req, res) => {
    const id = pathId(req);
    // An operator's decision: a moderator's link must not be enough to open an assembly to all.
    const claims = tokens.verify(bearerToken(req), {
      roles: ['operator'],
      action: 'make assemblies public',
      assembly: id,
    });
    const { publicWatch } = publicWatchBody(req.body, 'body');
    res.json({ assembly: toView(assemblies.setPublicWatch(actorOf(claims), id, publicWatch)) });
  });

  router.post('/api/assemblies/:id/invites', (req, res) => {
    const id = pathId(req);
    const claims = manager(req, 'mint invite links', id);
    const body = inviteBody(req.body, 'body');
    const { invite, token } = invites.mint(
      actorOf(claims),
      id,
      body.role,
      body.ttl ?? deps.inviteTtlSeconds,
      body.label,
    );
    res.status(201).json({ invite, token });
  });

  router.get('/api/assemblies/:id/invites', (req, res) => {
    const id = pathId(req);
    manager(req, 'list invite links', id);
    res.json({ invites: invites.list(id) });
  });

  router.post('/api/assemblies/:id/invites/:inviteId/revoke', (req, res) => {
    const id = pathId(req);
    const inviteId = parseInviteId(String(req.params.inviteId), 'the invite id in the path');
    const claims = manager(req, 'revoke invite links', id);
    // Nothing to send; an empty object (or no body) is accepted, anything else is a mistake.
    revokeBody(req.body, 'body');
    res.json({ invite: invites.revoke(actorOf(claims), id, inviteId) });
  });

  return router;
}
