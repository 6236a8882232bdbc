/**
 * Invite links: a token for one role in one assembly, wrapped in the URL of the page that role
 * uses, and recorded (with the link) so that moderators can see what was handed out.
 */
import type { Actor } from '../domain/Assemblies.js';
import { newInviteId, type AssemblyId } from '../domain/ids.js';
import type { AssemblyStore } from '../store/AssemblyStore.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Invite, InviteStore } from '../store/InviteStore.js';
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

export class Invites {
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
    this.#tokens = tokens;
    this.#invites = invites;
    this.#assemblies = assemblies;
    this.#audit = audit;
    this.#baseUrl = baseUrl;
  }

  /** Mints a link for `role` in an existing assembly (AssemblyNotFoundError otherwise). */
  mint(actor: Actor, assemblyId: AssemblyId, role: InviteRole, ttlSeconds: number): MintedInvite {
    this.#assemblies.get(assemblyId);
    const id = newInviteId();
    const token = this.#tokens.sign({ assembly: assemblyId, role, ttlSeconds, inviteId: id });
    const now = Date.now();
    const invite: Invite = {
      id,
      assemblyId,
      role,
      url: this.#link(pagePath(role, assemblyId), token),
      createdBy: actor,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlSeconds * 1000).toISOString(),
    };
    this.#invites.add(invite);
    this.#audit.record(actor, 'invite.create', assemblyId, { role, inviteId: id, ttlSeconds });
    return { invite, token };
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
