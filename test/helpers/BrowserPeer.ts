import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import type { Rgb } from './media.js';

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

/** State kept in the page by the functions below; nothing else lives in the page. */
interface PagePeer {
  pc: RTCPeerConnection;
  video: HTMLVideoElement;
  canvas: HTMLCanvasElement;
  frames: number;
  firstFrameAt: number;
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
async function blankPageUrl(): Promise<string> {
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
  async createOffer(options: { send: boolean }): Promise<string> {
    return this.page.evaluate(async ({ send }) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.appendChild(video);
      const canvas = document.createElement('canvas');
      const state: PagePeer = { pc, video, canvas, frames: 0, firstFrameAt: 0 };
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
      if (send) {
        const media = await navigator.mediaDevices.getUserMedia({
          video: { width: 640, height: 360, frameRate: 30 },
          audio: true,
        });
        for (const track of media.getTracks()) pc.addTrack(track, media);
      } else {
        pc.addTransceiver('audio', { direction: 'recvonly' });
        pc.addTransceiver('video', { direction: 'recvonly' });
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return offer.sdp ?? '';
    }, options);
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
  async sample(points: ReadonlyArray<readonly [number, number]>): Promise<Rgb[]> {
    return this.page.evaluate((fractions) => {
      const state = window.montagePeer;
      if (state === undefined) throw new Error('no peer connection');
      const { video, canvas } = state;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (context === null) throw new Error('no 2d context');
      context.drawImage(video, 0, 0);
      return fractions.map(([fx, fy]) => {
        const size = 8;
        const x = Math.max(
          0,
          Math.min(canvas.width - size, Math.round(fx * canvas.width) - size / 2),
        );
        const y = Math.max(
          0,
          Math.min(canvas.height - size, Math.round(fy * canvas.height) - size / 2),
        );
        const data = context.getImageData(x, y, size, size).data;
        let r = 0;
        let g = 0;
        let b = 0;
        for (let i = 0; i < data.length; i += 4) {
          r += data[i] ?? 0;
          g += data[i + 1] ?? 0;
          b += data[i + 2] ?? 0;
        }
        const n = data.length / 4;
        return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n) };
      });
    }, points);
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
