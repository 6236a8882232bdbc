import type { Browser, Page } from 'playwright-core';
import { blankPageUrl } from './BrowserPeer.js';
import type { Rgb } from './media.js';
import { sampleVideo, type Points } from './pixels.js';

/** The three kinds of peer kurento-utils offers: WebRtcPeerSendrecv, …Sendonly, …Recvonly. */
export type TutorialPeerMode = 'sendrecv' | 'sendonly' | 'recvonly';

/**
 * A candidate as the tutorials' pages put it on their WebSocket: the browser's RTCIceCandidate
 * serialised with toJSON(), so it carries usernameFragment as well.
 */
export interface BrowserCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
  usernameFragment?: string | null;
}

/** What the page reports about its remote video. */
export interface RemoteVideo {
  frames: number;
  width: number;
  height: number;
  /** The peer connection's connectionState ('closed' once disposed). */
  connectionState: string;
}

/** State kept in the page; nothing else lives there. */
interface PageState {
  pc: RTCPeerConnection;
  localVideo: HTMLVideoElement;
  remoteVideo: HTMLVideoElement;
  stream: MediaStream | null;
  /** Remote candidates that came before the answer (kurento-utils' bufferizeCandidates). */
  queued: RTCIceCandidateInit[];
  frames: number;
}

declare global {
  interface Window {
    tutorialPeer?: PageState;
    tutorialCandidate?: (candidate: BrowserCandidate) => void;
  }
}

/**
 * The browser half of Kurento's tutorials: one Chromium page that does what kurento-utils'
 * WebRtcPeer does for them, written here from its documented behaviour (nothing of it is
 * vendored). The page asks for the camera with kurento-utils' default constraints, offers with
 * the mode's directions, hands every local candidate to the test as it is gathered, keeps remote
 * candidates until the answer is set, and plays the remote stream in a <video>.
 */
export class TutorialPeer {
  readonly #candidateListeners: Array<(candidate: BrowserCandidate) => void> = [];
  /** Candidates gathered before the offer reached the test or before anyone listened. */
  readonly #early: BrowserCandidate[] = [];
  #offered = false;

  private constructor(
    readonly page: Page,
    readonly mode: TutorialPeerMode,
  ) {}

  /** Opens a page for a peer of `mode`; the offer is made by generateOffer(). */
  static async open(browser: Browser, mode: TutorialPeerMode): Promise<TutorialPeer> {
    const page = await browser.newPage();
    const peer = new TutorialPeer(page, mode);
    await page.exposeFunction('tutorialCandidate', (candidate: BrowserCandidate) => {
      peer.#early.push(candidate);
      peer.#flushCandidates();
    });
    // A page served over http://127.0.0.1 is a secure context, which getUserMedia needs.
    await page.goto(await blankPageUrl());
    return peer;
  }

  /**
   * kurento-utils' `onicecandidate` option, or its on('icecandidate'): every local candidate.
   * As in kurento-utils, candidates gathered while nobody listens wait for the first listener
   * (the recorder tutorial subscribes only once its endpoint exists).
   */
  onIceCandidate(listener: (candidate: BrowserCandidate) => void): void {
    this.#candidateListeners.push(listener);
    this.#flushCandidates();
  }

  /**
   * Creates the peer connection and its offer as kurento-utils does: sendrecv and sendonly peers
   * publish getUserMedia({audio: true, video: {width: 640, framerate: 15}}) (its
   * MEDIA_CONSTRAINTS), a sendonly peer turns every transceiver to sendonly, and a recvonly peer
   * adds one recvonly transceiver for audio and one for video. As in kurento-utils, `onOffer`
   * gets the offer before any local candidate is handed out: the browser fires icecandidate
   * events only after the promise that delivers the offer, so a tutorial's page always sends its
   * offer message first (one2one's server drops candidates that come before the call).
   */
  async generateOffer(onOffer: (sdpOffer: string) => void): Promise<void> {
    const sdpOffer = await this.page.evaluate(async (mode) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const localVideo = document.createElement('video');
      const remoteVideo = document.createElement('video');
      for (const [video, id] of [
        [localVideo, 'videoInput'],
        [remoteVideo, 'videoOutput'],
      ] as const) {
        video.id = id;
        video.muted = true;
        video.autoplay = true;
        video.playsInline = true;
        document.body.appendChild(video);
      }
      const state: PageState = {
        pc,
        localVideo,
        remoteVideo,
        stream: null,
        queued: [],
        frames: 0,
      };
      window.tutorialPeer = state;
      pc.addEventListener('icecandidate', (event) => {
        // A null candidate only says that gathering is over; kurento-utils does not send it.
        if (event.candidate !== null) {
          window.tutorialCandidate?.(event.candidate.toJSON() as BrowserCandidate);
        }
      });
      // kurento-utils plays the answer's remote streams in remoteVideo once the answer is set.
      pc.addEventListener('track', (event) => {
        const stream = event.streams[0] ?? new MediaStream([event.track]);
        if (remoteVideo.srcObject !== stream) remoteVideo.srcObject = stream;
        if (event.track.kind !== 'video') return;
        const onFrame = (): void => {
          state.frames += 1;
          remoteVideo.requestVideoFrameCallback(onFrame);
        };
        remoteVideo.requestVideoFrameCallback(onFrame);
        void remoteVideo.play();
      });
      // When the answer makes the connection stable, the queued remote candidates go in.
      pc.addEventListener('signalingstatechange', () => {
        if (pc.signalingState !== 'stable') return;
        for (const candidate of state.queued.splice(0)) void pc.addIceCandidate(candidate);
      });
      if (mode === 'recvonly') {
        pc.addTransceiver('audio', { direction: 'recvonly' });
        pc.addTransceiver('video', { direction: 'recvonly' });
      } else {
        const stream = await navigator.mediaDevices.getUserMedia({
          audio: true,
          // kurento-utils writes `framerate`, which getUserMedia ignores; kept as it sends it.
          video: { width: 640, framerate: 15 } as MediaTrackConstraints,
        });
        state.stream = stream;
        localVideo.srcObject = stream;
        for (const track of stream.getTracks()) pc.addTrack(track, stream);
        if (mode === 'sendonly') {
          for (const transceiver of pc.getTransceivers()) transceiver.direction = 'sendonly';
        }
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return pc.localDescription?.sdp ?? '';
    }, this.mode);
    onOffer(sdpOffer);
    this.#offered = true;
    this.#flushCandidates();
  }

  /** Hands out the waiting candidates once the offer is out and someone listens. */
  #flushCandidates(): void {
    if (!this.#offered || this.#candidateListeners.length === 0) return;
    for (const candidate of this.#early.splice(0)) {
      for (const listener of this.#candidateListeners) listener(candidate);
    }
  }

  /** kurento-utils' processAnswer: sets the answer, which starts the remote video. */
  async processAnswer(sdpAnswer: string): Promise<void> {
    await this.page.evaluate(async (sdp) => {
      const state = window.tutorialPeer;
      if (state === undefined) throw new Error('no peer connection');
      if (state.pc.signalingState === 'closed') throw new Error('PeerConnection is closed');
      await state.pc.setRemoteDescription({ type: 'answer', sdp });
    }, sdpAnswer);
  }

  /**
   * kurento-utils' addIceCandidate: a candidate from Kurento (an IceCandidate complex type, with
   * its __module__ and __type__) goes into the peer connection once it has the answer, and is
   * queued until then.
   */
  async addIceCandidate(candidate: object): Promise<void> {
    await this.page.evaluate(async (init) => {
      const state = window.tutorialPeer;
      if (state === undefined) throw new Error('no peer connection');
      const { pc } = state;
      if (pc.signalingState === 'closed') throw new Error('PeerConnection object is closed');
      const rtc = new RTCIceCandidate(init);
      if (pc.signalingState === 'stable' && pc.remoteDescription !== null) {
        await pc.addIceCandidate(rtc);
      } else {
        state.queued.push(rtc.toJSON());
      }
    }, candidate);
  }

  /** kurento-utils' dispose: stops the camera, closes the connection and empties the videos. */
  async dispose(): Promise<void> {
    await this.page.evaluate(() => {
      const state = window.tutorialPeer;
      if (state === undefined) return;
      for (const track of state.stream?.getTracks() ?? []) track.stop();
      state.pc.close();
      state.localVideo.srcObject = null;
      state.remoteVideo.srcObject = null;
    });
  }

  async remoteVideo(): Promise<RemoteVideo> {
    return this.page.evaluate(() => {
      const state = window.tutorialPeer;
      if (state === undefined) throw new Error('no peer connection');
      return {
        frames: state.frames,
        width: state.remoteVideo.videoWidth,
        height: state.remoteVideo.videoHeight,
        connectionState: state.pc.connectionState,
      };
    });
  }

  /** Waits until the remote video has decoded `frames` frames in all. */
  async waitForFrames(frames: number, timeoutMs: number): Promise<RemoteVideo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const video = await this.remoteVideo();
      if (video.frames >= frames) return video;
      if (Date.now() > deadline) {
        throw new Error(`only ${video.frames} of ${frames} remote frames after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Samples the remote video at `points` (fractions of its size). */
  async sampleRemote(points: Points): Promise<Rgb[]> {
    return sampleVideo(this.page, '#videoOutput', points);
  }

  async close(): Promise<void> {
    await this.page.close();
  }
}
