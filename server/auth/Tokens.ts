/**
 * Signed tokens: compact JWTs (RFC 7519) with HS256, written with node:crypto so that the whole
 * security path is a page of code that can be read. A token names one assembly (or every one,
 * for operators), one role, and an expiry; `verify` refuses anything else with a typed error.
 * Tokens minted for an invite link carry its id (`jti`), so that revoking the link refuses all
 * of them, and may carry its label (`lbl`, e.g. "Room 12").
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseAssemblyId } from '../domain/ids.js';
import type { AssemblyId, InviteId } from '../domain/ids.js';
import {
  ForbiddenRoleError,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
  WrongAssemblyError,
} from './errors.js';
import { INVITE_LABEL_RULE, isInviteLabel } from './inviteLabel.js';
import { ALL_ASSEMBLIES, isRole, type Role, type TokenScope } from './roles.js';

/** What a verified token says. */
export interface TokenClaims {
  assembly: TokenScope;
  role: Role;
  /** Issued at, seconds since the epoch. */
  issuedAt: number;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
  /** The invite record this token was minted for, if any. */
  inviteId: InviteId | undefined;
  /** The invite link's label ("Room 12"): a camera's name until someone renames it. */
  label: string | undefined;
  /**
   * A viewer token handed to anyone who opened a public assembly's watch page without a link: it
   * is valid only while the assembly stays public.
   */
  publicViewer: boolean;
}

export interface SignRequest {
  assembly: TokenScope;
  role: Role;
  ttlSeconds: number;
  inviteId?: InviteId;
  /** 1 to 40 printable characters, already trimmed (see inviteLabel.ts). */
  label?: string;
  /** A public assembly's anonymous viewer (see TokenClaims.publicViewer); viewers only. */
  publicViewer?: boolean;
}

export interface TokensOptions {
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  now?: () => number;
  /**
   * Whether the invite link `inviteId` was revoked. Asked on every verification of a token that
   * names an invite, so it must be cheap (an in-memory set, see InviteStore).
   */
  isRevoked?: (inviteId: InviteId) => boolean;
  /** Whether an assembly is public now (anonymous viewer tokens work only then). */
  isPublic?: (assembly: AssemblyId) => boolean;
}

/** What a caller requires of a token besides a valid signature and expiry. */
export interface Expectation {
  /** The assembly the request is about; operator tokens match every assembly. */
  assembly?: AssemblyId;
  /** Roles allowed to do `action`. */
  roles?: readonly Role[];
  /** Said in the refusal, e.g. "manage assemblies". */
  action?: string;
}

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
/** Refuse absurdly large tokens before doing any work on them. */
const MAX_TOKEN_LENGTH = 4096;

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function decodeJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new TokenInvalidError(`its ${what} is not base64url-encoded JSON`);
  }
}

/** A random secret suitable for HS256 (256 bits), base64url-encoded. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export class Tokens {
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #isRevoked: (inviteId: InviteId) => boolean;
  readonly #isPublic: (assembly: AssemblyId) => boolean;

  constructor(secret: string, options: TokensOptions = {}) {
    if (secret.length < 32) throw new Error('the token secret must have at least 32 characters');
    this.#key = Buffer.from(secret, 'utf8');
    this.#now = options.now ?? Date.now;
    this.#isRevoked = options.isRevoked ?? (() => false);
    this.#isPublic = options.isPublic ?? (() => false);
  }

  sign(request: SignRequest): string {
    const issuedAt = Math.floor(this.#now() / 1000);
    const payload: Record<string, unknown> = {
      asm: request.assembly,
      role: request.role,
      iat: issuedAt,
      exp: issuedAt + request.ttlSeconds,
    };
    if (request.inviteId !== undefined) payload.jti = request.inviteId;
    if (request.publicViewer === true) {
      if (request.role !== 'viewer' || request.assembly === ALL_ASSEMBLIES) {
        throw new TypeError('only a viewer of one assembly can be a public viewer');
      }
      payload.pub = true;
    }
    if (request.label !== undefined) {
      if (!isInviteLabel(request.label))
        throw new TypeError(`a token label must be ${INVITE_LABEL_RULE}`);
      payload.lbl = request.label;
    }
    const body = `${HEADER}.${base64url(JSON.stringify(payload))}`;
    return `${body}.${this.#signature(body).toString('base64url')}`;
  }

  /**
   * Checks the signature (in constant time), the algorithm, the claims, that its invite link was
   * not revoked, the expiry, then what `expect` requires. Throws TokenInvalidError,
   * TokenRevokedError, TokenExpiredError, WrongAssemblyError or ForbiddenRoleError.
   */
  verify(token: string, expect: Expectation = {}): TokenClaims {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenInvalidError('it is too long');
    const parts = token.split('.');
    const [header, payload, signature] = parts;
    if (parts.length !== 3 || header === undefined || payload === undefined || !signature) {
      throw new TokenInvalidError('expected three dot-separated parts (a JWT)');
    }
    const headerJson = decodeJson(header, 'header');
    if (
      typeof headerJson !== 'object' ||
      headerJson === null ||
      (headerJson as { alg?: unknown }).alg !== 'HS256'
    ) {
      throw new TokenInvalidError('only HS256-signed tokens are accepted');
    }
    const expected = this.#signature(`${header}.${payload}`);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new TokenInvalidError(
        'its signature does not match (forged, or signed by another server)',
      );
    }

    const claims = this.#claims(decodeJson(payload, 'payload'));
    // Revoked before expired: a revoked link stays refused as revoked, which says more.
    if (claims.inviteId !== undefined && this.#isRevoked(claims.inviteId)) {
      throw new TokenRevokedError();
    }
    // An anonymous public viewer's token ends when the operator makes the assembly private.
    if (
      claims.publicViewer &&
      (claims.assembly === ALL_ASSEMBLIES || !this.#isPublic(claims.assembly))
    ) {
      throw new TokenRevokedError('this assembly is no longer public; ask for an invite link');
    }
    if (claims.expiresAt * 1000 <= this.#now()) {
      throw new TokenExpiredError(new Date(claims.expiresAt * 1000));
    }
    if (expect.roles !== undefined && !expect.roles.includes(claims.role)) {
      throw new ForbiddenRoleError(claims.role, expect.roles, expect.action ?? 'do this');
    }
    if (
      expect.assembly !== undefined &&
      claims.assembly !== ALL_ASSEMBLIES &&
      claims.assembly !== expect.assembly
    ) {
      throw new WrongAssemblyError(claims.assembly, expect.assembly);
    }
    return claims;
  }

  #signature(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest();
  }

  #claims(json: unknown): TokenClaims {
    if (typeof json !== 'object' || json === null) {
      throw new TokenInvalidError('its payload is not an object');
    }
    const { asm, role, iat, exp, jti, lbl, pub } = json as Record<string, unknown>;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw new TokenInvalidError('it has no expiry (exp)');
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) {
      throw new TokenInvalidError('it has no issue time (iat)');
    }
    if (!isRole(role)) throw new TokenInvalidError('it names no known role');
    if (typeof asm !== 'string') throw new TokenInvalidError('it names no assembly');
    let assembly: TokenScope;
    if (asm === ALL_ASSEMBLIES) {
      if (role !== 'operator')
        throw new TokenInvalidError('only operator tokens cover every assembly');
      assembly = ALL_ASSEMBLIES;
    } else {
      try {
        assembly = parseAssemblyId(asm);
      } catch {
        throw new TokenInvalidError('its assembly id is malformed');
      }
    }
    if (jti !== undefined && typeof jti !== 'string') {
      throw new TokenInvalidError('its invite id (jti) is not a string');
    }
    if (pub !== undefined && (pub !== true || role !== 'viewer')) {
      throw new TokenInvalidError('only a viewer token can be public (pub)');
    }
    if (lbl !== undefined && !isInviteLabel(lbl)) {
      throw new TokenInvalidError(`its label (lbl) is not ${INVITE_LABEL_RULE}`);
    }
    return {
      assembly,
      role,
      issuedAt: iat,
      expiresAt: exp,
      inviteId: jti as InviteId | undefined,
      label: lbl,
      publicViewer: pub === true,
    };
  }
}
