/**
 * Kurento's error codes and the `data.type` each one carries on the wire
 * (kurento-protocol.md §5). Codes without a type (-32000, -32601, -32603)
 * are sent without `data`, exactly as KMS does.
 */
export const KurentoErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  SERVER_ERROR: -32000,
  MARSHALL_ERROR: 40001,
  CONNECT_ERROR: 40004,
  INVALID_SESSION: 40007,
  MALFORMED_TRANSACTION: 40008,
  NOT_ENOUGH_RESOURCES: 40009,
  MEDIA_OBJECT_NOT_FOUND: 40101,
  MEDIA_OBJECT_EVENT_NOT_SUPPORTED: 40106,
  MEDIA_OBJECT_ILLEGAL_PARAM_ERROR: 40107,
  MEDIA_OBJECT_NOT_AVAILABLE: 40108,
  MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT: 40109,
  MEDIA_OBJECT_TAG_KEY_NOT_FOUND: 40110,
  MEDIA_OBJECT_OPERATION_NOT_SUPPORTED: 40111,
  SDP_PARSE_ERROR: 40201,
  SDP_END_POINT_NO_LOCAL_SDP_ERROR: 40202,
  SDP_END_POINT_NO_REMOTE_SDP_ERROR: 40203,
  SDP_END_POINT_GENERATE_OFFER_ERROR: 40204,
  SDP_END_POINT_PROCESS_OFFER_ERROR: 40205,
  SDP_END_POINT_PROCESS_ANSWER_ERROR: 40206,
  SDP_END_POINT_ALREADY_NEGOTIATED: 40208,
  SDP_END_POINT_NOT_OFFER_GENERATED: 40209,
  SDP_END_POINT_ANSWER_ALREADY_PROCCESED: 40210,
  HTTP_END_POINT_REGISTRATION_ERROR: 40300,
  ICE_GATHER_CANDIDATES_ERROR: 40400,
  ICE_ADD_CANDIDATE_ERROR: 40401,
  SERVER_MANAGER_ERROR_KMD_NOT_FOUND: 40500,
  PLAYER_SEEK_FAIL: 40700,
} as const;

export type KurentoErrorName = keyof typeof KurentoErrorCode;

/** Names that travel without `data.type` (KMS builds them without it). */
const UNTYPED: ReadonlySet<KurentoErrorName> = new Set<KurentoErrorName>([
  'METHOD_NOT_FOUND',
  'INTERNAL_ERROR',
  'SERVER_ERROR',
]);

export interface WireError {
  code: number;
  message: string;
  data?: { type: string };
}

/**
 * The one error type that reaches the wire. Everything thrown while handling
 * a request is turned into one of these before the reply is written, so the
 * client always receives a Kurento code rather than `{}`.
 */
export class KurentoError extends Error {
  readonly code: number;
  readonly type: KurentoErrorName;

  constructor(type: KurentoErrorName, message: string) {
    super(message);
    this.name = 'KurentoError';
    this.type = type;
    this.code = KurentoErrorCode[type];
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message };
    if (!UNTYPED.has(this.type)) wire.data = { type: this.type };
    return wire;
  }

  static objectNotFound(id: string): KurentoError {
    return new KurentoError('MEDIA_OBJECT_NOT_FOUND', `Object '${id}' not found`);
  }

  static marshall(message: string): KurentoError {
    return new KurentoError('MARSHALL_ERROR', message);
  }

  /** Wraps anything unexpected the way KMS does (-32603). */
  static internal(cause: unknown): KurentoError {
    const text = cause instanceof Error ? cause.message : String(cause);
    return new KurentoError('INTERNAL_ERROR', `Unexpected error while processing method: ${text}`);
  }
}
