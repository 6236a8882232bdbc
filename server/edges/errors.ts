/**
 * Why the edge registry refused an operator's change. Each extends `DomainError`, so
 * `toWireError` maps it (404 for an unknown edge, 409 for the others) with its own code.
 */
import { DomainError } from '../domain/errors.js';

/** No edge has the id a request names. */
export class EdgeNotFoundError extends DomainError {
  readonly code = 'edge_not_found';
  constructor(readonly edgeId: string) {
    super(`edge '${edgeId}' does not exist`);
    this.name = 'EdgeNotFoundError';
  }
}

/** A new edge has the id, public URL or ingest URL of one already registered. */
export class EdgeConflictError extends DomainError {
  readonly code = 'edge_conflict';
  constructor(message: string) {
    super(message);
    this.name = 'EdgeConflictError';
  }
}

/** The local edge runs inside this app server: it can be drained, not removed. */
export class LocalEdgeError extends DomainError {
  readonly code = 'edge_local';
  constructor(message: string) {
    super(message);
    this.name = 'LocalEdgeError';
  }
}
