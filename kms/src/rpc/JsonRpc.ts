import { KurentoError } from './KurentoError.js';

/** JSON-RPC ids are echoed as received; objects and arrays are refused. */
export type RpcId = string | number | null;

export interface RpcRequest {
  /** undefined for notifications (no `id` member): processed, never answered. */
  id: RpcId | undefined;
  method: string;
  /** undefined when the request had no `params` (pings after the first do this). */
  params: Record<string, unknown> | undefined;
}

export type ParseOutcome =
  { ok: true; request: RpcRequest } | { ok: false; id: RpcId; error: KurentoError };

export interface RpcResponse {
  jsonrpc: '2.0';
  id: RpcId;
  result?: unknown;
  error?: ReturnType<KurentoError['toWire']>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses and validates one incoming frame the way KMS's JsonRpcHandler does:
 * invalid JSON → -32700, batches and malformed envelopes → -32600, a
 * non-object `params` → -32602.
 */
export function parseRequest(text: string): ParseOutcome {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { ok: false, id: null, error: new KurentoError('PARSE_ERROR', 'Parse error.') };
  }
  const invalid = (id: RpcId): ParseOutcome => ({
    ok: false,
    id,
    error: new KurentoError('INVALID_REQUEST', 'Invalid JSON-RPC request.'),
  });
  if (Array.isArray(message)) {
    return {
      ok: false,
      id: null,
      error: new KurentoError(
        'INVALID_REQUEST',
        'Invalid JSON-RPC request. Batch requests are not supported.',
      ),
    };
  }
  if (!isPlainObject(message)) return invalid(null);
  const rawId = message.id;
  if (
    rawId !== undefined &&
    rawId !== null &&
    typeof rawId !== 'string' &&
    typeof rawId !== 'number'
  ) {
    return invalid(null);
  }
  const id: RpcId | undefined = rawId;
  if (message.jsonrpc !== '2.0' || typeof message.method !== 'string') return invalid(id ?? null);
  if (message.params !== undefined && message.params !== null && !isPlainObject(message.params)) {
    return {
      ok: false,
      id: id ?? null,
      error: new KurentoError('INVALID_PARAMS', "'params' should be an object"),
    };
  }
  const params = isPlainObject(message.params) ? message.params : undefined;
  return { ok: true, request: { id, method: message.method, params } };
}

export function successResponse(id: RpcId, result: unknown): RpcResponse {
  return { jsonrpc: '2.0', id, result };
}

export function errorResponse(id: RpcId, error: KurentoError): RpcResponse {
  return { jsonrpc: '2.0', id, error: error.toWire() };
}
