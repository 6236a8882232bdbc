import { KurentoError } from '../rpc/KurentoError.js';
import { Endpoint } from './Endpoint.js';
import type { ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';

export type UriEndpointState = 'STOP' | 'START' | 'PAUSE';

/**
 * Accepts only file:// and http(s):// URIs (design.md "Security"); anything
 * else is refused at create time with a 40001 that says what is allowed.
 */
export function validateMediaUri(uri: string): void {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw KurentoError.marshall(
      `Invalid URI '${uri}': only absolute file://, http:// and https:// URIs are supported`,
    );
  }
  if (!['file:', 'http:', 'https:'].includes(parsed.protocol)) {
    throw KurentoError.marshall(
      `Invalid URI '${uri}': scheme '${parsed.protocol}' is not supported; use file://, http:// or https://`,
    );
  }
  // URL() silently resolves '..', so the check looks at the text as given.
  let decoded = uri;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    throw KurentoError.marshall(`Invalid URI '${uri}': malformed percent-encoding`);
  }
  if (decoded.split(/[/?#]/).includes('..')) {
    throw KurentoError.marshall(`Invalid URI '${uri}': '..' path segments are not allowed`);
  }
}

/** Kurento's UriEndpoint: the fixed uri, the STOP/START/PAUSE state and its event. */
export abstract class UriEndpoint extends Endpoint {
  #state: UriEndpointState = 'STOP';

  protected constructor(
    host: ObjectHost,
    className: string,
    id: string,
    pipeline: MediaPipeline,
    protected readonly uri: string,
  ) {
    super(host, className, id, pipeline);
  }

  protected get state(): UriEndpointState {
    return this.#state;
  }

  protected setState(state: UriEndpointState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.raise('UriEndpointStateChanged', { state });
  }

  protected override getProperty(name: string): unknown {
    switch (name) {
      case 'uri':
        // KMS reports the uri as given, with %2F shown as '/'.
        return this.uri.replace(/%2F/gi, '/');
      case 'state':
        return this.#state;
      default:
        return super.getProperty(name);
    }
  }
}
