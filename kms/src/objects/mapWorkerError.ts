import { KurentoError, type KurentoErrorName } from '../rpc/KurentoError.js';
import {
  ChannelClosedError,
  IceError,
  InvalidStateError,
  NotFoundError,
  SdpError,
  SeekError,
  UnsupportedError,
  WorkerError,
  WorkerTypeError,
} from '../worker/errors.js';

/** Per-call choices for the worker errors whose Kurento code depends on the operation. */
export interface ErrorContext {
  /** Code for SdpError (40201 parse, 40204/40205/40206 by operation). */
  sdp?: KurentoErrorName;
  /** Code for InvalidStateError (40208/40209/40210 for SDP steps). */
  invalidState?: KurentoErrorName;
}

/**
 * Maps a worker failure to the Kurento code the client must see
 * (table in kms/worker/PROTOCOL.md). Anything already a KurentoError passes
 * through unchanged.
 */
export function mapWorkerError(error: unknown, context: ErrorContext = {}): KurentoError {
  if (error instanceof KurentoError) return error;
  if (error instanceof ChannelClosedError) {
    return new KurentoError(
      'INTERNAL_ERROR',
      `Unexpected error while processing method: the pipeline's media worker is gone (${error.message})`,
    );
  }
  if (error instanceof WorkerTypeError) return new KurentoError('MARSHALL_ERROR', error.message);
  if (error instanceof NotFoundError)
    return new KurentoError('MEDIA_OBJECT_NOT_FOUND', error.message);
  if (error instanceof InvalidStateError) {
    return new KurentoError(context.invalidState ?? 'INTERNAL_ERROR', error.message);
  }
  if (error instanceof SdpError)
    return new KurentoError(context.sdp ?? 'SDP_PARSE_ERROR', error.message);
  if (error instanceof IceError) return new KurentoError('ICE_ADD_CANDIDATE_ERROR', error.message);
  if (error instanceof SeekError) return new KurentoError('PLAYER_SEEK_FAIL', 'Seek fails');
  if (error instanceof UnsupportedError)
    return new KurentoError('MEDIA_OBJECT_ILLEGAL_PARAM_ERROR', error.message);
  if (error instanceof WorkerError) return KurentoError.internal(error);
  return KurentoError.internal(error);
}
