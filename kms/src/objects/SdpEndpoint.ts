import { KurentoError } from '../rpc/KurentoError.js';
import type { Args } from './MediaObject.js';
import { SessionEndpoint } from './SessionEndpoint.js';

/** Media sections one description may carry (browsers send 2 or 3; an MCU needs few). */
export const MAX_MEDIA_SECTIONS = 64;
/** Candidates one description may carry. */
export const MAX_SDP_CANDIDATES = 512;

/**
 * Refuses a description too large to negotiate before it reaches the worker: one with a
 * thousand m-lines and no BUNDLE made webrtcbin start thousands of threads and never answer.
 */
function checkSdpBounds(sdp: string, what: 'offer' | 'answer'): void {
  let sections = 0;
  let candidates = 0;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) sections += 1;
    else if (line.startsWith('a=candidate:')) candidates += 1;
  }
  if (sections > MAX_MEDIA_SECTIONS) {
    throw new KurentoError(
      'SDP_PARSE_ERROR',
      `The ${what} has ${sections} media sections (m= lines); the engine takes at most ${MAX_MEDIA_SECTIONS}`,
    );
  }
  if (candidates > MAX_SDP_CANDIDATES) {
    throw new KurentoError(
      'SDP_PARSE_ERROR',
      `The ${what} has ${candidates} candidates; the engine takes at most ${MAX_SDP_CANDIDATES}`,
    );
  }
}

/**
 * Kurento's SdpEndpoint: the offer/answer state machine and its error codes
 * (processAnswer only after generateOffer → 40209 and only once per offer → 40210). Unlike
 * Kurento 7, which refuses any second offer with 40208, a negotiated endpoint renegotiates
 * (JSEP subsequent offers): it answers a new offer from its peer, and generateOffer makes a new
 * offer for processAnswer. 40208 remains for a step while another is in flight and for a new
 * offer either way while the endpoint's own offer waits for its answer. Subclasses name the
 * worker method family (`webrtc.` for WebRtcEndpoint).
 */
export abstract class SdpEndpoint extends SessionEndpoint {
  #localSdp: string | undefined;
  #remoteSdp: string | undefined;
  /** Set synchronously so two concurrent requests cannot both negotiate. */
  #stepInFlight = false;
  /** A remote description has been applied (processOffer or processAnswer succeeded). */
  #negotiated = false;
  /** generateOffer succeeded at least once (processAnswer before that is 40209). */
  #offerGenerated = false;
  /** The endpoint's last offer waits for processAnswer (Kurento marks it used when tried). */
  #ownOfferPending = false;

  protected abstract readonly sdpMethodPrefix: string;

  /** The remote description as last applied, if any. */
  protected get remoteSdp(): string | undefined {
    return this.#remoteSdp;
  }

  /** Rewrites the kept local description, if there is one (Kurento adds candidates to it). */
  protected editLocalSdp(edit: (sdp: string) => string): void {
    if (this.#localSdp !== undefined) this.#localSdp = edit(this.#localSdp);
  }

  /** Rewrites the kept remote description, if there is one. */
  protected editRemoteSdp(edit: (sdp: string) => string): void {
    if (this.#remoteSdp !== undefined) this.#remoteSdp = edit(this.#remoteSdp);
  }

  /** Runs after a remote description was applied (e.g. to flush queued candidates). */
  protected afterRemoteDescription(): Promise<void> {
    return Promise.resolve();
  }

  /** Runs before the first SDP step (e.g. to push per-endpoint ICE servers). */
  protected beforeNegotiation(): Promise<void> {
    return Promise.resolve();
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'generateOffer':
        return this.#generateOffer(args);
      case 'processOffer':
        return this.#processOffer(String(args.offer));
      case 'processAnswer':
        return this.#processAnswer(String(args.answer));
      case 'getLocalSessionDescriptor':
        if (this.#localSdp === undefined)
          throw new KurentoError('SDP_END_POINT_NO_LOCAL_SDP_ERROR', 'No local SDP');
        return this.#localSdp;
      case 'getRemoteSessionDescriptor':
        if (this.#remoteSdp === undefined)
          throw new KurentoError('SDP_END_POINT_NO_REMOTE_SDP_ERROR', 'No remote SDP');
        return this.#remoteSdp;
      default:
        return super.callMethod(name, args);
    }
  }

  /** Claims the SDP state machine for one generateOffer or processOffer. */
  #claimNegotiation(): void {
    if (this.#stepInFlight || this.#ownOfferPending) {
      throw new KurentoError('SDP_END_POINT_ALREADY_NEGOTIATED', 'Endpoint already negotiated');
    }
    this.#stepInFlight = true;
  }

  async #generateOffer(args: Args): Promise<string> {
    this.#claimNegotiation();
    const params: Args = {};
    const options = args.options;
    if (typeof options === 'object' && options !== null) {
      const record = options as Record<string, unknown>;
      if (typeof record.offerToReceiveAudio === 'boolean')
        params.offerToReceiveAudio = record.offerToReceiveAudio;
      if (typeof record.offerToReceiveVideo === 'boolean')
        params.offerToReceiveVideo = record.offerToReceiveVideo;
    }
    try {
      await this.beforeNegotiation();
      const result = await this.request(`${this.sdpMethodPrefix}.generateOffer`, params, {
        sdp: 'SDP_END_POINT_GENERATE_OFFER_ERROR',
        invalidState: 'SDP_END_POINT_ALREADY_NEGOTIATED',
      });
      const sdp = typeof result.sdp === 'string' ? result.sdp : '';
      this.#localSdp = sdp;
      this.#offerGenerated = true;
      this.#ownOfferPending = true;
      return sdp;
    } finally {
      this.#stepInFlight = false;
    }
  }

  async #processOffer(offer: string): Promise<string> {
    if (offer.length === 0) throw new KurentoError('SDP_PARSE_ERROR', 'Empty offer not valid');
    checkSdpBounds(offer, 'offer');
    this.#claimNegotiation();
    try {
      await this.beforeNegotiation();
      const result = await this.request(
        `${this.sdpMethodPrefix}.processOffer`,
        { offer },
        {
          sdp: 'SDP_END_POINT_PROCESS_OFFER_ERROR',
          invalidState: 'SDP_END_POINT_ALREADY_NEGOTIATED',
        },
      );
      const answer = typeof result.sdp === 'string' ? result.sdp : '';
      // Kurento keeps the offer as a parsed message and returns it re-serialised.
      this.#remoteSdp = typeof result.remote === 'string' ? result.remote : offer;
      this.#localSdp = answer;
      const first = !this.#negotiated;
      this.#negotiated = true;
      if (first) this.mediaSessionStarted();
      await this.afterRemoteDescription();
      return answer;
    } finally {
      this.#stepInFlight = false;
    }
  }

  async #processAnswer(answer: string): Promise<string> {
    if (answer.length === 0) throw new KurentoError('SDP_PARSE_ERROR', 'Empty answer not valid');
    checkSdpBounds(answer, 'answer');
    if (!this.#offerGenerated) {
      throw new KurentoError(
        'SDP_END_POINT_NOT_OFFER_GENERATED',
        'Offer not generated. It is not possible to process an answer.',
      );
    }
    if (!this.#ownOfferPending) {
      throw new KurentoError(
        'SDP_END_POINT_ANSWER_ALREADY_PROCCESED',
        'Sdp Answer already processed',
      );
    }
    // Kurento marks the answer processed before trying it and leaves it so when it fails: a
    // second processAnswer is then refused with 40210.
    this.#ownOfferPending = false;
    const result = await this.request(
      `${this.sdpMethodPrefix}.processAnswer`,
      { answer },
      {
        sdp: 'SDP_END_POINT_PROCESS_ANSWER_ERROR',
        invalidState: 'SDP_END_POINT_ANSWER_ALREADY_PROCCESED',
      },
    );
    this.#remoteSdp = typeof result.remote === 'string' ? result.remote : answer;
    const first = !this.#negotiated;
    this.#negotiated = true;
    if (first) this.mediaSessionStarted();
    await this.afterRemoteDescription();
    // KMS returns the local description (the offer) from processAnswer.
    return this.#localSdp ?? '';
  }
}
