/**
 * Typed errors rebuilt on the Node side from the worker's error `name`
 * (kms/worker/PROTOCOL.md), so callers and tests can tell which failure
 * happened with `instanceof` instead of parsing messages.
 */
export class WorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerError';
  }
}

/** A bad or missing parameter (worker `TypeError`). */
export class WorkerTypeError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerTypeError';
  }
}

export class NotFoundError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class InvalidStateError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStateError';
  }
}

export class SdpError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'SdpError';
  }
}

export class IceError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'IceError';
  }
}

export class SeekError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'SeekError';
  }
}

export class UnsupportedError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedError';
  }
}

export class InternalError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}

/** The channel was closed (worker exited or was released) while a request was pending. */
export class ChannelClosedError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

/**
 * A request went unanswered for longer than KMS_WORKER_REQUEST_TIMEOUT_MS: the worker is taken
 * for hung and killed, so the request fails as if the worker had gone.
 */
export class WorkerTimeoutError extends ChannelClosedError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerTimeoutError';
  }
}

/** The worker could not be started (binary missing, bad command line, timeout). */
export class WorkerStartError extends WorkerError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

/** The worker exited with code 42: GStreamer plugins are missing on this machine. */
export class MissingPluginError extends WorkerStartError {
  readonly plugins: string[];

  constructor(plugins: string[]) {
    super(
      `media worker cannot start: missing GStreamer plugin(s): ${plugins.length > 0 ? plugins.join(', ') : '(not named)'}; install the distribution packages that provide them`,
    );
    this.name = 'MissingPluginError';
    this.plugins = plugins;
  }
}

/** Rebuilds the typed error from a worker reply `{name, message}`. */
export function errorFromWorker(name: string, message: string): WorkerError {
  switch (name) {
    case 'TypeError':
      return new WorkerTypeError(message);
    case 'NotFoundError':
      return new NotFoundError(message);
    case 'InvalidStateError':
      return new InvalidStateError(message);
    case 'SdpError':
      return new SdpError(message);
    case 'IceError':
      return new IceError(message);
    case 'SeekError':
      return new SeekError(message);
    case 'UnsupportedError':
      return new UnsupportedError(message);
    default:
      return new InternalError(message);
  }
}
