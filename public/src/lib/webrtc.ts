/**
 * One WebRTC peer connection negotiated with the server over signaling: this side offers, the
 * server answers, and ICE candidates trickle both ways. Candidates that arrive before they can
 * be used are queued inside the session (the server's before the answer is applied, ours
 * before the server has the offer), as Kurento's tutorials do.
 */
import type { IceCandidateWire } from '../../../server/signaling/events.js';

export interface PeerSessionOptions {
  /** Sends one of our candidates to the server. */
  sendCandidate: (candidate: IceCandidateWire) => void;
  /** Called with every connectionState change. */
  onState?: (state: RTCPeerConnectionState) => void;
  /** Called with each remote track (receive-only sessions). */
  onTrack?: (event: RTCTrackEvent) => void;
}

export class PeerSession {
  readonly pc: RTCPeerConnection;
  readonly #options: PeerSessionOptions;
  /** The server's candidates, held until its answer is applied. */
  readonly #remoteQueue: RTCIceCandidateInit[] = [];
  /** Our candidates, held until the server has our offer (it answered). */
  readonly #localQueue: IceCandidateWire[] = [];
  #answered = false;
  #closed = false;

  constructor(options: PeerSessionOptions) {
    this.#options = options;
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc.addEventListener('icecandidate', (event) => {
      if (event.candidate === null || event.candidate.candidate === '') return;
      const wire: IceCandidateWire = {
        candidate: event.candidate.candidate,
        sdpMid: event.candidate.sdpMid,
        sdpMLineIndex: event.candidate.sdpMLineIndex,
      };
      if (this.#answered) options.sendCandidate(wire);
      else this.#localQueue.push(wire);
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) options.onState?.(this.pc.connectionState);
    });
    if (options.onTrack !== undefined) this.pc.addEventListener('track', options.onTrack);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Creates the offer, hands its SDP to `exchange` (which asks the server and returns the
   * answer's SDP), applies the answer and releases both candidate queues.
   */
  async negotiate(exchange: (offerSdp: string) => Promise<string>): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const answerSdp = await exchange(offer.sdp ?? '');
    if (this.#closed) return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    this.#answered = true;
    for (const wire of this.#localQueue.splice(0)) this.#options.sendCandidate(wire);
    for (const candidate of this.#remoteQueue.splice(0)) await this.#addCandidate(candidate);
  }

  /** A candidate from the server: applied now, or queued until the answer is. */
  addRemoteCandidate(wire: IceCandidateWire): void {
    if (this.#closed) return;
    const candidate: RTCIceCandidateInit = {
      candidate: wire.candidate,
      sdpMid: wire.sdpMid,
      sdpMLineIndex: wire.sdpMLineIndex,
    };
    if (this.#answered) void this.#addCandidate(candidate);
    else this.#remoteQueue.push(candidate);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pc.close();
  }

  async #addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      // A candidate the browser cannot use (another network, a stale generation) is not fatal:
      // the others may still connect, and connectionState reports if none does.
      console.warn('ignored an ICE candidate the browser refused', candidate, error);
    }
  }
}

/** Delays for retrying media after failures: 2 s, 4 s, 8 s, then every 15 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(15_000, 2000 * 2 ** Math.max(0, attempt));
}
