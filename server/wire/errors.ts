/**
 * The one place where errors become wire errors: `{ error: { code, message } }` with an HTTP
 * status for REST and pages, `{ code, message }` for socket.io acks and handshake refusals.
 * Domain and auth errors keep their own code and message; anything unexpected becomes
 * `internal` with a generic message (the details go to the log, not to the client).
 */
import {
  AuthError,
  ForbiddenRoleError,
  TokenExpiredError,
  TokenInvalidError,
  TokenMissingError,
  TokenRevokedError,
  WrongAssemblyError,
} from '../auth/errors.js';
import {
  AssemblyNotFoundError,
  CameraRemovedError,
  DiskFullError,
  DomainError,
  InvalidArgumentError,
  InviteNotFoundError,
  MediaRefusedError,
  MediaUnavailableError,
  RateLimitedError,
  RecordingNotFoundError,
  TooLargeError,
} from '../domain/errors.js';
import { EdgeNotFoundError } from '../edges/errors.js';

export interface WireError {
  code: string;
  message: string;
}

export interface MappedError {
  status: number;
  error: WireError;
  /** False for errors the client caused; true means it should be logged as a server fault. */
  unexpected: boolean;
}

/** Errors of express's body parser carry a `type` and a `status`. */
interface BodyParserError {
  type: string;
  status: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { type?: unknown }).type === 'string' &&
    typeof (error as { status?: unknown }).status === 'number'
  );
}

/** An error the edge itself raises for a route or page that does not exist. */
export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  constructor(what: string) {
    super(`${what} does not exist`);
    this.name = 'NotFoundError';
  }
}

export function toWireError(error: unknown): MappedError {
  const mapped = (status: number, code: string, message: string): MappedError => ({
    status,
    error: { code, message },
    unexpected: false,
  });
  if (error instanceof AuthError) {
    if (error instanceof TokenMissingError || error instanceof TokenExpiredError) {
      return mapped(401, error.code, error.message);
    }
    if (error instanceof TokenInvalidError) return mapped(401, error.code, error.message);
    // Like an expired token: the credential no longer works, whoever holds it.
    if (error instanceof TokenRevokedError) return mapped(401, error.code, error.message);
    if (error instanceof WrongAssemblyError || error instanceof ForbiddenRoleError) {
      return mapped(403, error.code, error.message);
    }
    return mapped(401, error.code, error.message);
  }
  if (error instanceof InvalidArgumentError) return mapped(400, error.code, error.message);
  if (
    error instanceof AssemblyNotFoundError ||
    error instanceof EdgeNotFoundError ||
    error instanceof InviteNotFoundError ||
    error instanceof RecordingNotFoundError ||
    error instanceof NotFoundError
  ) {
    return mapped(404, error.code, error.message);
  }
  if (error instanceof CameraRemovedError) return mapped(403, error.code, error.message);
  // The media server is down or reconnecting: the client may retry shortly.
  if (error instanceof MediaUnavailableError) return mapped(503, error.code, error.message);
  // The media server answered, with an error: a bad gateway, the change did not happen.
  if (error instanceof MediaRefusedError) return mapped(502, error.code, error.message);
  if (error instanceof RateLimitedError) return mapped(429, error.code, error.message);
  if (error instanceof TooLargeError) return mapped(413, error.code, error.message);
  if (error instanceof DiskFullError) return mapped(507, error.code, error.message);
  if (error instanceof DomainError) return mapped(409, error.code, error.message);
  if (isBodyParserError(error)) {
    if (error.type === 'entity.parse.failed') {
      return mapped(400, 'invalid_json', 'the request body is not valid JSON');
    }
    if (error.type === 'entity.too.large') {
      return mapped(413, 'body_too_large', 'the request body is larger than the server accepts');
    }
    return mapped(
      error.status,
      'bad_request',
      `the request body could not be read (${error.type})`,
    );
  }
  return {
    status: 500,
    error: { code: 'internal', message: 'internal server error' },
    unexpected: true,
  };
}
