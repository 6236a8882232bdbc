import type { MediaSet } from '../objects/MediaSet.js';
import type { Connection } from './Connection.js';
import { errorResponse, successResponse, type RpcRequest, type RpcResponse } from './JsonRpc.js';
import { KurentoError } from './KurentoError.js';
import type { SessionRegistry } from './SessionRegistry.js';

type Params = Record<string, unknown>;
type Result = Record<string, unknown> | null;

function isPlainObject(value: unknown): value is Params {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A required top-level string field: missing or mistyped gives -32000 without data, as in KMS. */
function requireString(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === null)
    throw new KurentoError('SERVER_ERROR', `'${name}' parameter is required`);
  if (typeof value !== 'string')
    throw new KurentoError('SERVER_ERROR', `'${name}' parameter should be a string`);
  return value;
}

function optionalObject(params: Params, name: string): Params {
  const value = params[name];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value))
    throw new KurentoError('SERVER_ERROR', `'${name}' parameter should be an object`);
  return value;
}

/**
 * kurento-client 7.2.0 replaces any params object that has an `id` field by that field alone
 * (its serializeParams takes it for a MediaObject), so ImageOverlayFilter.removeImage(id) and
 * addImage(id, ...) arrive with `operationParams: "ID"`. Kurento refuses that; the engine reads
 * it as `{ id }`, which makes removeImage work from kurento-client (addImage then reports its
 * first missing parameter, since the client never sent the rest).
 */
function operationParams(params: Params): Params {
  const value = params.operationParams;
  if (typeof value === 'string') return { id: value };
  return optionalObject(params, 'operationParams');
}

function requireParams(params: Params | undefined): Params {
  if (!params) throw new KurentoError('INVALID_PARAMS', "'params' is required");
  return params;
}

/** Methods whose session is looked up, never created (§1.3). */
const NO_IMPLICIT_SESSION = new Set(['ping', 'connect', 'keepAlive', 'closeSession']);

/**
 * The Kurento JSON-RPC methods (kurento-protocol.md §2). dispatch() resolves
 * the session, answers repeated request ids from the response cache, runs
 * the method and rebinds the connection to the result's sessionId.
 */
export class Methods {
  readonly #mediaSet: MediaSet;
  readonly #sessions: SessionRegistry;

  constructor(mediaSet: MediaSet, sessions: SessionRegistry) {
    this.#mediaSet = mediaSet;
    this.#sessions = sessions;
  }

  async dispatch(connection: Connection, request: RpcRequest): Promise<RpcResponse | undefined> {
    const id = request.id ?? null;
    // A request without a session on a connection without one gets a new
    // session, bound at once: kurento-client pipelines several requests
    // before the first reply, and they must all land in the same session.
    if (
      !connection.sessionId &&
      !NO_IMPLICIT_SESSION.has(request.method) &&
      typeof request.params?.sessionId !== 'string'
    ) {
      this.#sessions.bind(connection, this.#sessions.getOrCreate(undefined).id);
    }
    // KMS fills a missing sessionId from the connection (§1.3).
    const params: Params | undefined =
      request.params && request.params.sessionId === undefined && connection.sessionId
        ? { ...request.params, sessionId: connection.sessionId }
        : request.params;
    const sessionId =
      typeof params?.sessionId === 'string' ? params.sessionId : connection.sessionId;
    const cacheable =
      request.id !== undefined &&
      request.id !== null &&
      sessionId !== undefined &&
      request.method !== 'ping';
    if (cacheable) {
      const cached = this.#sessions.cached(sessionId, request.id as string | number);
      if (cached) return cached;
    }
    let response: RpcResponse;
    try {
      const result = await this.#run(connection, request.method, params);
      response = successResponse(id, result);
      if (
        result &&
        typeof result.sessionId === 'string' &&
        result.sessionId !== connection.sessionId
      ) {
        this.#sessions.bind(connection, result.sessionId);
      }
    } catch (error) {
      response = errorResponse(
        id,
        error instanceof KurentoError ? error : KurentoError.internal(error),
      );
    }
    const finalSession =
      typeof (response.result as Params | undefined)?.sessionId === 'string'
        ? String((response.result as Params).sessionId)
        : sessionId;
    if (cacheable && finalSession)
      this.#sessions.remember(finalSession, request.id as string | number, response);
    return request.id === undefined ? undefined : response;
  }

  async #run(connection: Connection, method: string, params: Params | undefined): Promise<Result> {
    const session = NO_IMPLICIT_SESSION.has(method)
      ? undefined
      : this.#sessions.getOrCreate(
          typeof params?.sessionId === 'string' ? params.sessionId : connection.sessionId,
        );
    switch (method) {
      case 'ping':
        return connection.sessionId
          ? { value: 'pong', sessionId: connection.sessionId }
          : { value: 'pong' };
      case 'connect':
        return this.#connect(connection, params);
      case 'keepAlive': {
        const existing =
          typeof params?.sessionId === 'string' ? this.#sessions.get(params.sessionId) : undefined;
        if (!existing) throw new KurentoError('INVALID_SESSION', 'Invalid session');
        existing.usedSinceGc = true;
        return { sessionId: existing.id };
      }
      case 'closeSession': {
        const p = requireParams(params);
        const target =
          typeof p.sessionId === 'string' ? this.#sessions.get(p.sessionId) : undefined;
        if (!target) throw new KurentoError('INVALID_SESSION', 'Invalid session');
        this.#sessions.closeSession(target.id, p.release === true);
        return null;
      }
      default:
        break;
    }
    if (!session) throw new KurentoError('METHOD_NOT_FOUND', 'Method not found.');
    switch (method) {
      case 'create': {
        const p = requireParams(params);
        const type = requireString(p, 'type');
        const object = await this.#mediaSet.create(
          type,
          optionalObject(p, 'constructorParams'),
          session.id,
        );
        return { sessionId: session.id, value: object.id };
      }
      case 'invoke': {
        const p = requireParams(params);
        const object = this.#mediaSet.get(requireString(p, 'object'));
        const operation = requireString(p, 'operation');
        this.#mediaSet.ref(object, session.id);
        const value = await object.invoke(operation, operationParams(p));
        return { sessionId: session.id, value };
      }
      case 'describe': {
        const p = requireParams(params);
        const object = this.#mediaSet.get(requireString(p, 'object'));
        this.#mediaSet.ref(object, session.id);
        return {
          sessionId: session.id,
          type: object.className,
          qualifiedType: `kurento.${object.className}`,
          hierarchy: this.#mediaSet.kmd.hierarchy(object.className),
        };
      }
      case 'subscribe': {
        const p = requireParams(params);
        const object = this.#mediaSet.get(requireString(p, 'object'));
        const type = requireString(p, 'type');
        if (!this.#mediaSet.kmd.events(object.className).has(type)) {
          throw new KurentoError(
            'MEDIA_OBJECT_EVENT_NOT_SUPPORTED',
            `Event '${type}' not supported`,
          );
        }
        this.#mediaSet.ref(object, session.id);
        return { sessionId: session.id, value: session.subscribe(object.id, type) };
      }
      case 'unsubscribe': {
        // Never fails (§2.5): kurento-client sends it after release too.
        if (params && typeof params.subscription === 'string')
          session.unsubscribe(params.subscription);
        return { sessionId: session.id };
      }
      case 'release': {
        const p = requireParams(params);
        const object = this.#mediaSet.resolveArgument(requireString(p, 'object'));
        if (object) this.#mediaSet.release(object);
        return { sessionId: session.id };
      }
      case 'ref': {
        const p = requireParams(params);
        this.#mediaSet.ref(this.#mediaSet.get(requireString(p, 'object')), session.id);
        return { sessionId: session.id };
      }
      case 'unref': {
        const p = requireParams(params);
        const object = this.#mediaSet.resolveArgument(requireString(p, 'object'));
        if (object) this.#mediaSet.unref(object, session.id);
        return { sessionId: session.id };
      }
      case 'transaction':
        return this.#transaction(connection, requireParams(params), session.id);
      default:
        throw new KurentoError('METHOD_NOT_FOUND', 'Method not found.');
    }
  }

  #connect(connection: Connection, params: Params | undefined): Result {
    const requested = typeof params?.sessionId === 'string' ? params.sessionId : undefined;
    if (requested === undefined) {
      const session = this.#sessions.getOrCreate(connection.sessionId);
      return { sessionId: session.id, serverId: this.#sessions.serverId };
    }
    const session = this.#sessions.get(requested);
    if (!session) throw new KurentoError('INVALID_SESSION', 'Invalid session');
    session.usedSinceGc = true;
    return { sessionId: session.id, serverId: this.#sessions.serverId };
  }

  /**
   * Runs operations in order; `"newref:N"` strings are replaced by operation
   * N's result value; the first failure stops the rest (§2.7).
   */
  async #transaction(connection: Connection, params: Params, sessionId: string): Promise<Result> {
    const operations = params.operations;
    if (!Array.isArray(operations))
      throw new KurentoError('SERVER_ERROR', "'operations' parameter should be an array");
    const values: unknown[] = [];
    const responses: RpcResponse[] = [];
    const substitute = (value: unknown): unknown => {
      if (typeof value === 'string' && value.startsWith('newref:')) {
        const index = Number(value.slice('newref:'.length));
        if (!Number.isInteger(index) || index < 0 || index >= values.length) {
          throw new KurentoError(
            'MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT',
            `Object '${value}' not found`,
          );
        }
        return values[index];
      }
      if (Array.isArray(value)) return value.map(substitute);
      if (isPlainObject(value))
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
      return value;
    };
    for (const [index, operation] of operations.entries()) {
      if (
        !isPlainObject(operation) ||
        operation.id !== index ||
        typeof operation.method !== 'string'
      ) {
        throw new KurentoError(
          'MALFORMED_TRANSACTION',
          `Transaction operation ${index} must be a request with id ${index}`,
        );
      }
      let response: RpcResponse;
      try {
        const operationParams = isPlainObject(operation.params)
          ? (substitute(operation.params) as Params)
          : undefined;
        const result = await this.#run(connection, operation.method, {
          ...operationParams,
          sessionId,
        });
        response = successResponse(index, result);
        values.push(isPlainObject(result) ? result.value : undefined);
      } catch (error) {
        response = errorResponse(
          index,
          error instanceof KurentoError ? error : KurentoError.internal(error),
        );
        responses.push(response);
        break;
      }
      responses.push(response);
    }
    return { sessionId, value: responses };
  }
}
