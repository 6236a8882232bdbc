import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import type { Rgb } from './media.js';
import { sampleVideo, type Points } from './pixels.js';

/** A candidate as RTCPeerConnection reports it and WebRtcEndpoint.addIceCandidate takes it. */
export interface CandidateInit {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

/** What the page's peer reports about the video it receives. */
export interface ReceivedVideo {
  frames: number;
  width: number;
  height: number;
  /** Date.now() at the first decoded frame, or 0 before it. */
  firstFrameAt: number;
}

/** How the page's peer connection is set up (see BrowserPeer.createOffer). */
export interface PeerOptions {
  /** Publish the fake camera and microphone (sendrecv); otherwise only receive. */
  send: boolean;
  /** With `send`, publish the microphone only: no video m-line until reoffer() adds a track. */
  audioOnly?: boolean;
  /**
   * Route received video through encoded insertable streams so that loseVideoFrames() can
   * spoil frames before the decoder, which makes Chromium ask the sender for a keyframe.
   */
  frameDropping?: boolean;
  /** Offer only this video codec (setCodecPreferences); by default Chromium's own order. */
  videoCodec?: 'VP8' | 'H264';
  /** Offer only this audio codec (e.g. 'PCMU', which the engine does not take). */
  audioCodec?: string;
  /** Add a second, receive-only video m-line that offers only this codec (e.g. 'VP9'). */
  extraVideoCodec?: string;
}

/**
 * How received video frames are spoilt before the decoder. `drop` withholds them: Chromium
 * then asks for a keyframe only after 3 s without a decodable frame. `corrupt` hands the
 * decoder garbage instead: it fails and Chromium asks for a keyframe at once (PLI).
 */
export type VideoLoss = 'none' | 'drop' | 'corrupt';

/** RTCP feedback and keyframe counters of one direction of the video stream. */
export interface VideoRtpStats {
  pliCount: number;
  firCount: number;
  /** keyFramesDecoded for inbound video, keyFramesEncoded for outbound. */
  keyFrames: number;
  /** framesDecoded for inbound video, framesEncoded for outbound. */
  frames: number;
}

/** The page's getStats() reduced to what keyframe tests look at; absent directions are null. */
export interface VideoStats {
  inbound: VideoRtpStats | null;
  outbound: VideoRtpStats | null;
}

/** State kept in the page by the functions below; nothing else lives in the page. */
interface PagePeer {
  pc: RTCPeerConnection;
  video: HTMLVideoElement;
  canvas: HTMLCanvasElement;
  frames: number;
  firstFrameAt: number;
  /** What happens to received encoded video frames before the decoder (see VideoLoss). */
  videoLoss: VideoLoss;
  lostFrames: number;
}

declare global {
  interface Window {
    montagePeer?: PagePeer;
    montageCandidate?: (candidate: CandidateInit) => void;
  }
}

let pageServer: Promise<{ server: Server; url: string }> | undefined;

/**
 * Serves one blank page on loopback. getUserMedia needs a secure context and
 * http://127.0.0.1 is one, unlike about:blank or data: URLs.
 */
export async function blankPageUrl(): Promise<string> {
  pageServer ??= new Promise((resolve, reject) => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<!doctype html><meta charset="utf-8"><title>peer</title><body></body>');
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.unref();
      resolve({ server, url: `http://127.0.0.1:${port}/` });
    });
  });
  return (await pageServer).url;
}

/**
 * One RTCPeerConnection in a Chromium page, driven from the test. It either publishes the fake
 * camera and microphone (and receives whatever comes back) or only receives.
 */
export class BrowserPeer {
  private readonly candidateListeners: Array<(candidate: CandidateInit) => void> = [];

  private constructor(readonly page: Page) {}

  static async open(browser: Browser): Promise<BrowserPeer> {
    const page = await browser.newPage();
    const peer = new BrowserPeer(page);
    await page.exposeFunction('montageCandidate', (candidate: CandidateInit) => {
      for (const listener of peer.candidateListeners) listener(candidate);
    });
    await page.goto(await blankPageUrl());
    return peer;
  }

  /** Calls back for every local ICE candidate the browser gathers from now on. */
  onCandidate(listener: (candidate: CandidateInit) => void): void {
    this.candidateListeners.push(listener);
  }

  /**
   * Creates the peer connection and returns its offer. With `send` the fake camera and
   * microphone are published (sendrecv); without it the browser only receives.
   */
  async createOffer(options: PeerOptions): Promise<string> {
    return this.#start(options, null);
  }

  /**
   * Creates the peer connection as the answerer of `offer` (the engine's generateOffer) and
   * returns its answer; the browser only receives.
   */
  async answer(offer: string): Promise<string> {
    return this.#start({ send: false }, offer);
  }

  async #start(options: PeerOptions, remoteOffer: string | null): Promise<string> {
    const args = { ...options, remoteOffer };
    return this.page.evaluate(async (init) => {
      const {
        send,
        audioOnly,
        frameDropping,
        videoCodec,
        audioCodec,
        extraVideoCodec,
        remoteOffer,
      } = init;
      // encodedInsertableStreams is a Chromium extension missing from TypeScript's DOM types;
      // a variable (not a literal argument) may carry it.
      const config = { iceServers: [], encodedInsertableStreams: frameDropping === true };
      const pc = new RTCPeerConnection(config);
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.appendChild(video);
      // A scratch canvas for tests that read the picture their own way (sampleVideo makes its own).
      const canvas = document.createElement('canvas');
      const state: PagePeer = {
        pc,
        video,
        canvas,
        frames: 0,
        firstFrameAt: 0,
        videoLoss: 'none',
        lostFrames: 0,
      };
      window.montagePeer = state;
      pc.onicecandidate = (event) => {
        if (event.candidate !== null && event.candidate.candidate !== '') {
          window.montageCandidate?.({
            candidate: event.candidate.candidate,
            sdpMid: event.candidate.sdpMid,
            sdpMLineIndex: event.candidate.sdpMLineIndex,
          });
        }
      };
      pc.ontrack = (event) => {
        if (event.track.kind !== 'video') return;
        video.srcObject = new MediaStream([event.track]);
        const onFrame = (): void => {
          if (state.frames === 0) state.firstFrameAt = Date.now();
          state.frames += 1;
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
        void video.play();
      };
      if (remoteOffer !== null) {
        await pc.setRemoteDescription({ type: 'offer', sdp: remoteOffer });
        for (const transceiver of pc.getTransceivers()) transceiver.direction = 'recvonly';
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        return answer.sdp ?? '';
      }
      const transceivers: Array<{ kind: string; transceiver: RTCRtpTransceiver }> = [];
      if (send) {
        const media = await navigator.mediaDevices.getUserMedia({
          video: audioOnly === true ? false : { width: 640, height: 360, frameRate: 30 },
          audio: true,
        });
        for (const track of media.getTracks()) {
          const transceiver = pc.addTransceiver(track, {
            direction: 'sendrecv',
            streams: [media],
          });
          transceivers.push({ kind: track.kind, transceiver });
        }
      } else {
        for (const kind of ['audio', 'video']) {
          transceivers.push({
            kind,
            transceiver: pc.addTransceiver(kind, { direction: 'recvonly' }),
          });
        }
      }
      // The encoded-stream API is Chromium's; TypeScript's DOM types do not declare it.
      interface EncodedStreams {
        readable: ReadableStream<unknown>;
        writable: WritableStream<unknown>;
      }
      type WithEncodedStreams = { createEncodedStreams(): EncodedStreams };
      if (extraVideoCodec !== undefined) {
        transceivers.push({
          kind: 'extra-video',
          transceiver: pc.addTransceiver('video', { direction: 'recvonly' }),
        });
      }
      const restrict = (transceiver: RTCRtpTransceiver, kind: string, codec: string): void => {
        const wanted = new RegExp(`^${kind}/(${codec}|rtx)$`, 'i');
        const codecs = RTCRtpReceiver.getCapabilities(kind)?.codecs ?? [];
        transceiver.setCodecPreferences(codecs.filter((c) => wanted.test(c.mimeType)));
      };
      for (const { kind, transceiver } of transceivers) {
        if (videoCodec !== undefined && kind === 'video')
          restrict(transceiver, 'video', videoCodec);
        if (audioCodec !== undefined && kind === 'audio')
          restrict(transceiver, 'audio', audioCodec);
        if (extraVideoCodec !== undefined && kind === 'extra-video')
          restrict(transceiver, 'video', extraVideoCodec);
        if (frameDropping !== true) continue;
        // With insertable streams on, every sender and receiver must be piped, or its media
        // stops; only received video goes through the dropping filter.
        if (send) {
          const sent = (transceiver.sender as unknown as WithEncodedStreams).createEncodedStreams();
          void sent.readable.pipeTo(sent.writable);
        }
        const received = (
          transceiver.receiver as unknown as WithEncodedStreams
        ).createEncodedStreams();
        const filter = new TransformStream<unknown, unknown>({
          transform(frame, controller) {
            if (kind === 'video' && state.videoLoss !== 'none') {
              state.lostFrames += 1;
              if (state.videoLoss === 'drop') return;
              // Zero bytes are no valid VP8/H.264 frame: the decoder fails on it.
              (frame as { data: ArrayBuffer }).data = new ArrayBuffer(64);
            }
            controller.enqueue(frame);
          },
        });
        void received.readable.pipeThrough(filter).pipeTo(received.writable);
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return offer.sdp ?? '';
    }, args);
  }

  /**
   * Offers again on the negotiated connection (renegotiation): first setting the first video
   * transceiver's direction to `videoDirection` and adding a second camera track when `addTrack`
   * is set, with fresh ICE credentials when `iceRestart` is set. Resolves
   * with the new offer; the connection then waits in have-local-offer until setAnswer() or
   * rollback().
   */
  async reoffer(
    options: {
      addTrack?: boolean;
      iceRestart?: boolean;
      videoDirection?: RTCRtpTransceiverDirection;
    } = {},
  ): Promise<string> {
    return this.page.evaluate(async ({ addTrack, iceRestart, videoDirection }) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      if (videoDirection !== undefined) {
        const video = state.pc
          .getTransceivers()
          .find((transceiver) => transceiver.receiver.track.kind === 'video');
        if (video === undefined) throw new Error('no video transceiver');
        video.direction = videoDirection;
      }
      if (addTrack === true) {
        const media = await navigator.mediaDevices.getUserMedia({ video: true });
        for (const track of media.getVideoTracks()) state.pc.addTrack(track, media);
      }
      const offer = await state.pc.createOffer({ iceRestart: iceRestart === true });
      await state.pc.setLocalDescription(offer);
      return offer.sdp ?? '';
    }, options);
  }

  /**
   * The ICE username fragments of the candidate pair the page's transport has selected (the
   * local one names the ICE generation in use), or null before one is selected.
   */
  async selectedPairUfrags(): Promise<{ local: string; remote: string } | null> {
    return this.page.evaluate(async () => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const report = await state.pc.getStats();
      const entries = new Map<string, Record<string, unknown>>();
      report.forEach((entry: Record<string, unknown>) => entries.set(String(entry['id']), entry));
      for (const entry of entries.values()) {
        if (entry['type'] !== 'transport') continue;
        const pair = entries.get(String(entry['selectedCandidatePairId']));
        if (pair === undefined) return null;
        const local = entries.get(String(pair['localCandidateId']));
        const remote = entries.get(String(pair['remoteCandidateId']));
        const ufrag = (candidate: Record<string, unknown> | undefined): string => {
          const value = candidate?.['usernameFragment'];
          return typeof value === 'string' ? value : '';
        };
        return { local: ufrag(local), remote: ufrag(remote) };
      }
      return null;
    });
  }

  /** Answers a new offer from the remote on the negotiated connection (renegotiation). */
  async answerReoffer(offer: string): Promise<string> {
    return this.page.evaluate(async (sdp) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      await state.pc.setRemoteDescription({ type: 'offer', sdp });
      const answer = await state.pc.createAnswer();
      await state.pc.setLocalDescription(answer);
      return answer.sdp ?? '';
    }, offer);
  }

  /** Abandons a pending offer of this page (back to the negotiated state). */
  async rollback(): Promise<void> {
    await this.page.evaluate(async () => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      await state.pc.setLocalDescription({ type: 'rollback' });
    });
  }

  /** The page's signalling state ('stable' once an offer/answer exchange is complete). */
  async signalingState(): Promise<string> {
    return this.page.evaluate(() => window.montagePeer?.pc.signalingState ?? 'none');
  }

  async setAnswer(sdp: string): Promise<void> {
    await this.page.evaluate(async (answer) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      await state.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    }, sdp);
  }

  async addCandidate(candidate: CandidateInit): Promise<void> {
    await this.page.evaluate(async (init) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      await state.pc.addIceCandidate(init);
    }, candidate);
  }

  async received(): Promise<ReceivedVideo> {
    return this.page.evaluate(() => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      return {
        frames: state.frames,
        width: state.video.videoWidth,
        height: state.video.videoHeight,
        firstFrameAt: state.firstFrameAt,
      };
    });
  }

  /**
   * Spoils every received video frame for `ms` milliseconds (needs `frameDropping`), then
   * lets frames through again. Resolves with the number of frames spoilt.
   */
  async loseVideoFrames(ms: number, how: Exclude<VideoLoss, 'none'>): Promise<number> {
    await this.page.evaluate((loss) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      state.lostFrames = 0;
      state.videoLoss = loss;
    }, how);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.page.evaluate(() => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      state.videoLoss = 'none';
      return state.lostFrames;
    });
  }

  /** Keyframe-related counters of the video this page sends and receives. */
  async stats(): Promise<VideoStats> {
    return this.page.evaluate(async () => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const result: VideoStats = { inbound: null, outbound: null };
      const report = await state.pc.getStats();
      report.forEach((entry: Record<string, unknown>) => {
        if (entry['kind'] !== 'video') return;
        const count = (name: string): number => {
          const value = entry[name];
          return typeof value === 'number' ? value : 0;
        };
        if (entry['type'] === 'inbound-rtp') {
          result.inbound = {
            pliCount: count('pliCount'),
            firCount: count('firCount'),
            keyFrames: count('keyFramesDecoded'),
            frames: count('framesDecoded'),
          };
        } else if (entry['type'] === 'outbound-rtp') {
          result.outbound = {
            pliCount: count('pliCount'),
            firCount: count('firCount'),
            keyFrames: count('keyFramesEncoded'),
            frames: count('framesEncoded'),
          };
        }
      });
      return result;
    });
  }

  /** Waits until at least `frames` video frames have been decoded. */
  async waitForFrames(frames: number, timeoutMs: number): Promise<ReceivedVideo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const received = await this.received();
      if (received.frames >= frames) return received;
      if (Date.now() > deadline) {
        throw new Error(
          `only ${received.frames} of ${frames} frames decoded after ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Samples the current video frame at points given as fractions of its width and height,
   * averaging a small square around each to be robust against coding noise at edges.
   */
  async sample(points: Points): Promise<Rgb[]> {
    // The peer's <video> is the only one on its page.
    return sampleVideo(this.page, 'video', points);
  }

  async close(): Promise<void> {
    await this.page.close();
  }
}

/** Centres of the four quadrants: top-left, top-right, bottom-left, bottom-right. */
export const QUADRANT_CENTRES: ReadonlyArray<readonly [number, number]> = [
  [0.25, 0.25],
  [0.75, 0.25],
  [0.25, 0.75],
  [0.75, 0.75],
];
