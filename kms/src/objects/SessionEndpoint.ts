import { Endpoint } from './Endpoint.js';

/**
 * Kurento's SessionEndpoint: adds MediaSessionStarted / MediaSessionTerminated,
 * raised by subclasses when a negotiation completes or the session ends.
 */
export abstract class SessionEndpoint extends Endpoint {
  protected mediaSessionStarted(): void {
    this.raise('MediaSessionStarted');
  }
}
