import kurento from 'kurento-client';
import type { BrowserPeer, CandidateInit, PeerOptions } from './BrowserPeer.js';

/** The part of kurento-client's WebRtcEndpoint that negotiation needs. */
export interface NegotiableEndpoint {
  processOffer(offer: string): Promise<string>;
  gatherCandidates(): Promise<void>;
  addIceCandidate(candidate: unknown): Promise<void>;
  on(event: 'IceCandidateFound', listener: (event: { candidate: CandidateInit }) => void): unknown;
}

/**
 * Negotiates a browser peer with a WebRtcEndpoint the way Kurento's tutorials do: the browser
 * offers, the endpoint answers, and candidates trickle both ways. Candidates that arrive before
 * the other side can take them are queued, as a Kurento application must.
 * Resolves with Date.now() at the moment processOffer was sent.
 */
export async function negotiate(
  endpoint: NegotiableEndpoint,
  peer: BrowserPeer,
  options: PeerOptions,
): Promise<number> {
  const toEndpoint: CandidateInit[] = [];
  const toBrowser: CandidateInit[] = [];
  let endpointReady = false;
  let browserReady = false;
  const makeCandidate = kurento.getComplexType('IceCandidate');

  const sendToEndpoint = (candidate: CandidateInit): void => {
    void endpoint.addIceCandidate(makeCandidate(candidate)).catch((error: unknown) => {
      console.error('addIceCandidate failed', error);
    });
  };
  const sendToBrowser = (candidate: CandidateInit): void => {
    void peer.addCandidate(candidate).catch((error: unknown) => {
      console.error('browser addIceCandidate failed', error);
    });
  };

  peer.onCandidate((candidate) => {
    if (endpointReady) sendToEndpoint(candidate);
    else toEndpoint.push(candidate);
  });
  endpoint.on('IceCandidateFound', (event) => {
    if (browserReady) sendToBrowser(event.candidate);
    else toBrowser.push(event.candidate);
  });

  const offer = await peer.createOffer(options);
  const offeredAt = Date.now();
  const answer = await endpoint.processOffer(offer);
  endpointReady = true;
  for (const candidate of toEndpoint.splice(0)) sendToEndpoint(candidate);
  await endpoint.gatherCandidates();
  await peer.setAnswer(answer);
  browserReady = true;
  for (const candidate of toBrowser.splice(0)) sendToBrowser(candidate);
  return offeredAt;
}
