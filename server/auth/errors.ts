/**
 * Why a token was refused. The messages are meant for people: they say what was wrong and what
 * to do, and they never echo the token itself.
 */

export abstract class AuthError extends Error {
  abstract readonly code: string;
}

/** No token was presented at all. */
export class TokenMissingError extends AuthError {
  readonly code = 'token_missing';
  constructor(where: string) {
    super(`a token is required: ${where}`);
    this.name = 'TokenMissingError';
  }
}

/** The token's `exp` has passed. */
export class TokenExpiredError extends AuthError {
  readonly code = 'token_expired';
  constructor(readonly expiredAt: Date) {
    super(`the token expired at ${expiredAt.toISOString()}; ask a moderator for a new invite link`);
    this.name = 'TokenExpiredError';
  }
}

/**
 * The token was minted for an invite link that a moderator revoked (`TokenClaims.inviteId`):
 * refused everywhere from then on, however long it would still be valid.
 */
export class TokenRevokedError extends AuthError {
  readonly code = 'token_revoked';
  constructor(message = 'this link was revoked; ask your teacher for a new one') {
    super(message);
    this.name = 'TokenRevokedError';
  }
}

/** The token is malformed, uses another algorithm, or its signature does not verify. */
export class TokenInvalidError extends AuthError {
  readonly code = 'token_invalid';
  constructor(reason: string) {
    super(`the token is invalid: ${reason}`);
    this.name = 'TokenInvalidError';
  }
}

/** A valid token for another assembly than the one asked for. */
export class WrongAssemblyError extends AuthError {
  readonly code = 'wrong_assembly';
  constructor(tokenAssembly: string, requested: string) {
    super(`this token is for assembly '${tokenAssembly}', not for assembly '${requested}'`);
    this.name = 'WrongAssemblyError';
  }
}

/** "a moderator", "an operator". */
function withArticle(words: string): string {
  return `${/^[aeiou]/i.test(words) ? 'an' : 'a'} ${words}`;
}

/** A valid token whose role may not do what was asked. */
export class ForbiddenRoleError extends AuthError {
  readonly code = 'forbidden_role';
  constructor(role: string, allowed: readonly string[], action: string) {
    super(
      `${withArticle(role)} token cannot ${action}; this needs ${withArticle(allowed.join(' or '))} token`,
    );
    this.name = 'ForbiddenRoleError';
  }
}
