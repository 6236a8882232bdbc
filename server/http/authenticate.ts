/** Reading tokens from HTTP requests: `Authorization: Bearer` for REST, `?token=` for pages. */
import type { Request } from 'express';
import { TokenMissingError } from '../auth/errors.js';
import type { TokenClaims } from '../auth/Tokens.js';
import { ALL_ASSEMBLIES } from '../auth/roles.js';

export function bearerToken(req: Request): string {
  const header = req.get('authorization');
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  if (match?.[1] === undefined) {
    throw new TokenMissingError('send it as "Authorization: Bearer <token>"');
  }
  return match[1];
}

export function queryToken(req: Request): string {
  const token: unknown = req.query.token;
  if (typeof token !== 'string' || token === '') {
    throw new TokenMissingError('open this page with the invite link you were given (?token=...)');
  }
  return token;
}

/** How the audit log names whoever holds these claims: "moderator@<id>" or "operator". */
export function actorOf(claims: TokenClaims): string {
  return claims.assembly === ALL_ASSEMBLIES ? claims.role : `${claims.role}@${claims.assembly}`;
}
