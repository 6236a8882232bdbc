/**
 * The domain's error classes. Each carries a stable `code` that the edge (HTTP routes, socket.io
 * handlers) turns into a wire error through one helper (`server/wire/errors.ts`); the domain
 * itself knows nothing about HTTP statuses.
 */

/** Base class of every error the domain throws on purpose. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** A value from outside (request body, socket message, CLI argument) is malformed. */
export class InvalidArgumentError extends DomainError {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** The assembly named by a request does not exist (or was deleted). */
export class AssemblyNotFoundError extends DomainError {
  readonly code = 'assembly_not_found';
  constructor(readonly assemblyId: string) {
    super(`assembly '${assemblyId}' does not exist`);
    this.name = 'AssemblyNotFoundError';
  }
}
