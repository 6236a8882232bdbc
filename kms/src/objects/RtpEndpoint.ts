import { randomBytes, randomUUID } from 'node:crypto';
import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import { BaseRtpEndpoint } from './BaseRtpEndpoint.js';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';

/** Kurento's CryptoSuite and the master key + salt length each needs, in bytes. */
const KEY_LENGTHS: Readonly<Record<string, number>> = {
  AES_128_CM_HMAC_SHA1_32: 30,
  AES_128_CM_HMAC_SHA1_80: 30,
  AES_256_CM_HMAC_SHA1_32: 46,
  AES_256_CM_HMAC_SHA1_80: 46,
};

/**
 * Turns the kmd's SDES {key | keyBase64, crypto} into what the worker takes ({suite, key as
 * base64}), or undefined for plain RTP. KMS enables SRTP only when a suite is given; a missing
 * key is generated.
 */
export function sdesOption(value: unknown): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object')
    throw KurentoError.marshall("'crypto' parameter should be an object");
  const sdes = value as Record<string, unknown>;
  const suite = sdes.crypto;
  if (suite === undefined || suite === null) return undefined;
  if (typeof suite !== 'string' || KEY_LENGTHS[suite] === undefined) {
    throw KurentoError.marshall(`Invalid value for 'CryptoSuite': ${JSON.stringify(suite)}`);
  }
  const length = KEY_LENGTHS[suite];
  let key: Buffer;
  if (typeof sdes.keyBase64 === 'string' && sdes.keyBase64.length > 0) {
    key = Buffer.from(sdes.keyBase64, 'base64');
  } else if (typeof sdes.key === 'string' && sdes.key.length > 0) {
    key = Buffer.from(sdes.key, 'latin1');
  } else {
    key = randomBytes(length);
  }
  if (key.length !== length) {
    throw KurentoError.marshall(
      `Invalid SDES key: ${suite} needs ${length} bytes of master key and salt, got ${key.length}`,
    );
  }
  return { suite, key: key.toString('base64') };
}

/** True when the text looks like an SDP at all (version line and at least one m-line). */
function looksLikeSdp(sdp: string): boolean {
  return /^v=0\r?$/m.test(sdp) && /^m=\S+ \d+ \S+ /m.test(sdp);
}

/**
 * Kurento's RtpEndpoint: plain RTP/AVP (or SDES-SRTP, RTP/SAVP) with H.264 and Opus over UDP,
 * backed by rtpbin in the worker. There is no ICE: RTP flowing in either direction counts as
 * connected.
 */
export class RtpEndpoint extends BaseRtpEndpoint {
  protected readonly sdpMethodPrefix = 'rtp';

  private constructor(host: ObjectHost, pipeline: MediaPipeline) {
    super(host, 'RtpEndpoint', `${pipeline.id}/${randomUUID()}_kurento.RtpEndpoint`, pipeline);
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
    /** Where to bind and what to announce: the IPv6 address for useIpv6, else the default. */
    address: string | undefined,
  ): Promise<RtpEndpoint> {
    const crypto = sdesOption(params.crypto);
    const endpoint = new RtpEndpoint(host, pipeline);
    const options: JsonObject = {};
    if (address !== undefined) options.address = address;
    if (crypto !== undefined) options.crypto = crypto;
    await endpoint.createInWorker(options);
    return endpoint;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    if (name === 'processOffer' || name === 'processAnswer') {
      const sdp = name === 'processOffer' ? args.offer : args.answer;
      if (typeof sdp === 'string' && sdp.length > 0 && !looksLikeSdp(sdp)) {
        throw new KurentoError('SDP_PARSE_ERROR', 'Error parsing SDP');
      }
    }
    return super.callMethod(name, args);
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    if (event === 'OnKeySoftLimit') {
      // The peer's SRTP master key for this media is close to libsrtp's usage limit (see
      // rtp_endpoint.c: 2^48 packets, so no test reaches it); Kurento keeps the key too.
      const mediaType = data.mediaType === 'AUDIO' ? 'AUDIO' : 'VIDEO';
      this.raise('OnKeySoftLimit', { mediaType });
      return;
    }
    super.onWorkerEvent(event, data);
  }

  protected override onFlowChanged(): void {
    // No ICE or DTLS here: media flowing in either direction is the connection.
    if (this.isFlowingIn() || this.isFlowingOut()) this.setConnectionState('CONNECTED');
    else this.setConnectionState('DISCONNECTED');
    super.onFlowChanged();
  }
}
