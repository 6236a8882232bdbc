import type { Args } from './MediaObject.js';
import { SdpEndpoint } from './SdpEndpoint.js';

export type ConnectionState = 'DISCONNECTED' | 'CONNECTED';
export type MediaState = 'DISCONNECTED' | 'CONNECTED';

/**
 * Kurento's BaseRtpEndpoint: connection state and media state, each raised
 * only on change. Media state follows kurento-protocol.md §4: it becomes
 * CONNECTED once the connection is up and media flows, and DISCONNECTED when
 * the connection goes down.
 */
export abstract class BaseRtpEndpoint extends SdpEndpoint {
  #connectionState: ConnectionState = 'DISCONNECTED';
  #mediaState: MediaState = 'DISCONNECTED';

  protected setConnectionState(state: ConnectionState): void {
    if (state === this.#connectionState) return;
    const oldState = this.#connectionState;
    this.#connectionState = state;
    this.raise('ConnectionStateChanged', { oldState, newState: state });
    this.#updateMediaState();
  }

  protected override onFlowChanged(): void {
    this.#updateMediaState();
  }

  #updateMediaState(): void {
    const connected =
      this.#connectionState === 'CONNECTED' && (this.isFlowingOut() || this.isFlowingIn());
    let next: MediaState = this.#mediaState;
    if (this.#connectionState === 'DISCONNECTED') next = 'DISCONNECTED';
    else if (connected) next = 'CONNECTED';
    if (next === this.#mediaState) return;
    const oldState = this.#mediaState;
    this.#mediaState = next;
    this.raise('MediaStateChanged', { oldState, newState: next });
  }

  protected override getProperty(name: string): unknown {
    switch (name) {
      case 'connectionState':
        return this.#connectionState;
      case 'mediaState':
        return this.#mediaState;
      case 'rembParams':
        return this.storedProperty(name) ?? null;
      default:
        return super.getProperty(name);
    }
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    if (name === 'requestKeyframe') {
      await this.request('element.requestKeyframe');
      return null;
    }
    return super.callMethod(name, args);
  }
}
