/**
 * Invite links: a token for one role in one assembly, wrapped in the URL of the page that role
 * uses, and recorded (with the link) so that moderators can see what was handed out and revoke
 * it. Revoking refuses the link's tokens everywhere (Tokens asks the store on every verify) and
 * emits `revoked`, on which signaling closes the connections opened with them.
 */
import { EventEmitter } from 'node:events';
import type { Actor } from '../domain/Assemblies.js';
import { InvalidArgumentError, InviteNotFoundError } from '../domain/errors.js';
import { newInviteId, type AssemblyId, type InviteId } from '../domain/ids.js';
import type { AssemblyStore } from '../store/AssemblyStore.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Invite, InviteStore } from '../store/InviteStore.js';
import { INVITE_LABEL_RULE, isInviteLabel } from './inviteLabel.js';
import { ALL_ASSEMBLIES, type InviteRole } from './roles.js';
import type { Tokens } from './Tokens.js';

/**
 * The page each role opens. Every page names its assembly in the path, so a link whose token
 * belongs to another assembly is refused instead of quietly opening that other assembly; the
 * operator's panel covers every assembly and names none.
 */
export function pagePath(role: InviteRole | 'operator', assembly: AssemblyId | undefined): string {
  const suffix = assembly === undefined ? '' : `/${assembly}`;
  switch (role) {
    case 'camera':
      return `/camera${suffix}`;
    case 'presenter':
      return `/studio${suffix}`;
    case 'moderator':
    case 'operator':
      return `/panel${suffix}`;
    case 'viewer':
      return `/watch${suffix}`;
  }
}

export interface MintedInvite {
  invite: Invite;
  token: string;
}

export interface InvitesEvents {
  /** A moderator revoked this invite: connections opened with its tokens must close now. */
  revoked: [invite: Invite];
}

export class Invites extends EventEmitter<InvitesEvents> {
  readonly #tokens: Tokens;
  readonly #invites: InviteStore;
  readonly #assemblies: AssemblyStore;
  readonly #audit: AuditLog;
  readonly #baseUrl: () => string;

  /** `baseUrl` is asked at each mint because the port may be known only after listening. */
  constructor(
    tokens: Tokens,
    invites: InviteStore,
    assemblies: AssemblyStore,
    audit: AuditLog,
    baseUrl: () => string,
  ) {
    super();
    this.#tokens = tokens;
    this.#invites = invites;
    this.#assemblies = assemblies;
    this.#audit = audit;
    this.#baseUrl = baseUrl;
  }

  /**
   * Mints a link for `role` in an existing assembly (AssemblyNotFoundError otherwise). `label`
   * (1 to 40 printable characters, trimmed) says where or who it is for; it is signed into the
   * token, where a camera finds its name.
   */
  mint(
    actor: Actor,
    assemblyId: AssemblyId,
    role: InviteRole,
    ttlSeconds: number,
    label?: string,
  ): MintedInvite {
    if (label !== undefined && !isInviteLabel(label)) {
      throw new InvalidArgumentError(`an invite label must be ${INVITE_LABEL_RULE}`);
    }
    this.#assemblies.get(assemblyId);
    const id = newInviteId();
    const token = this.#tokens.sign({
      assembly: assemblyId,
      role,
      ttlSeconds,
      inviteId: id,
      label,
    });
    const now = Date.now();
    const invite: Invite = {
      id,
      assemblyId,
      role,
      url: this.#link(pagePath(role, assemblyId), token),
      label: label ?? null,
      createdBy: actor,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlSeconds * 1000).toISOString(),
      revokedAt: null,
    };
    this.#invites.add(invite);
    this.#audit.record(actor, 'invite.create', assemblyId, {
      role,
      inviteId: id,
      ttlSeconds,
      ...(label === undefined ? {} : { label }),
    });
    return { invite, token };
  }

  /**
   * Revokes an invite of `assemblyId` (InviteNotFoundError if it has none with that id): its
   * tokens are refused from now on and `revoked` is emitted. Revoking it again changes nothing
   * and returns it as it is.
   */
  revoke(actor: Actor, assemblyId: AssemblyId, inviteId: InviteId): Invite {
    this.#assemblies.get(assemblyId);
    const found = this.#invites.find(inviteId);
    if (found === undefined || found.assemblyId !== assemblyId) {
      throw new InviteNotFoundError(inviteId);
    }
    if (!this.#invites.revoke(inviteId, new Date().toISOString())) return found;
    const invite = this.#invites.find(inviteId) ?? found;
    this.#audit.record(actor, 'invite.revoke', assemblyId, { role: invite.role, inviteId });
    this.emit('revoked', invite);
    return invite;
  }

  list(assemblyId: AssemblyId): Invite[] {
    this.#assemblies.get(assemblyId);
    return this.#invites.listFor(assemblyId);
  }

  /** An operator token (every assembly); only the CLI mints these. */
  mintOperator(actor: Actor, ttlSeconds: number): { token: string; url: string } {
    const token = this.#tokens.sign({ assembly: ALL_ASSEMBLIES, role: 'operator', ttlSeconds });
    this.#audit.record(actor, 'operator-token.create', undefined, { ttlSeconds });
    return { token, url: this.#link(pagePath('operator', undefined), token) };
  }

  #link(path: string, token: string): string {
    return `${this.#baseUrl()}${path}?token=${encodeURIComponent(token)}`;
  }
}
