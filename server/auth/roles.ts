/**
 * Who may do what. Every token names one role and one assembly; an operator's token names every
 * assembly (`ALL_ASSEMBLIES`), because operators run the service (edges, origin) rather than one
 * assembly.
 */
import type { AssemblyId } from '../domain/ids.js';

export const ROLES = ['camera', 'presenter', 'moderator', 'viewer', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** Roles an invite link can be minted for by a moderator; operator tokens come from the CLI. */
export const INVITE_ROLES = ['camera', 'presenter', 'moderator', 'viewer'] as const;
export type InviteRole = (typeof INVITE_ROLES)[number];

/** The assembly claim of an operator token: every assembly. */
export const ALL_ASSEMBLIES = '*';
export type TokenScope = AssemblyId | typeof ALL_ASSEMBLIES;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
