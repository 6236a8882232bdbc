/**
 * The offer/answer with trickled ICE that the camera page and the program monitor both do over
 * socket.io, for the test drivers (CameraClient, MonitorClient): a fresh RTCPeerConnection per
 * offer, candidates in both directions held until the answer is applied, and an answer to an
 * older offer (one overtaken by a `media:reset`) ignored.
 */
import type { IceCandidateWire } from '../../server/signaling/events.js';
import type { BrowserPeer } from '../helpers/BrowserPeer.js';
import { endPeer } from './drivers.js';

export class TrickleOffer {
  readonly #peer: BrowserPeer;
  readonly #send: boolean;
  readonly #sendCandidate: (candidate: IceCandidateWire) => void;
  /** Increments with every offer, so that an answer to an older offer is ignored. */
  #generation = 0;
  #answered = false;
  readonly #remoteQueue: IceCandidateWire[] = [];
  readonly #localQueue: IceCandidateWire[] = [];
  #latest: Promise<void> = Promise.resolve();

  /**
   * `send`: whether the peer publishes its camera and microphone (the camera) or only receives
   * (the monitor). `sendCandidate` trickles a local candidate to the server.
   */
  constructor(
    peer: BrowserPeer,
    send: boolean,
    sendCandidate: (candidate: IceCandidateWire) => void,
  ) {
    this.#peer = peer;
    this.#send = send;
    this.#sendCandidate = sendCandidate;
    peer.onCandidate((candidate) => {
      if (this.#answered) this.#sendCandidate(candidate);
      else this.#localQueue.push(candidate);
    });
  }

  /** The newest offer's completion, for tests to await. */
  get latest(): Promise<void> {
    return this.#latest;
  }

  /** A candidate from the server: applied now, or once the answer is. */
  remoteCandidate(candidate: IceCandidateWire): void {
    if (this.#answered) void this.#peer.addCandidate(candidate).catch(() => undefined);
    else this.#remoteQueue.push(candidate);
  }

  /** The peer connection was closed: candidates wait again until the next answer. */
  closed(): void {
    this.#answered = false;
  }

  /**
   * Starts a new offer on a fresh peer connection; `exchange` sends the SDP offer to the server
   * and resolves with its answer. Returns (and keeps as `latest`) the offer's completion.
   */
  start(exchange: (offer: string) => Promise<string>): Promise<void> {
    const run = this.#offer(exchange);
    // The caller awaits `latest`; this keeps an unawaited failure from crashing the run.
    run.catch(() => undefined);
    this.#latest = run;
    return run;
  }

  async #offer(exchange: (offer: string) => Promise<string>): Promise<void> {
    const generation = ++this.#generation;
    this.#answered = false;
    this.#remoteQueue.length = 0;
    this.#localQueue.length = 0;
    await endPeer(this.#peer);
    const answer = await exchange(await this.#peer.createOffer({ send: this.#send }));
    if (generation !== this.#generation) return;
    await this.#peer.setAnswer(answer);
    this.#answered = true;
    for (const candidate of this.#remoteQueue.splice(0)) await this.#peer.addCandidate(candidate);
    for (const candidate of this.#localQueue.splice(0)) this.#sendCandidate(candidate);
  }
}
