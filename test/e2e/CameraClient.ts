/**
 * One camera page, driven from a test with exactly the socket events the /camera page uses:
 * a socket.io connection (with the page's camera key when it has one), `camera:offer` answered
 * by the server, ICE candidates trickled both ways and held until the answer is applied, and a
 * new offer after `media:reset`. The peer connection is a real RTCPeerConnection in Chromium
 * publishing the browser's fake camera and microphone.
 */
import type { Browser } from 'playwright-core';
import type { IceCandidateWire } from '../../server/signaling/events.js';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import type { PaletteName } from '../helpers/media.js';
import { connectPage, welcomed } from './drivers.js';
import { call, type Client } from './stack.js';
import { TrickleOffer } from './TrickleOffer.js';

export interface CameraJoin {
  url: string;
  token: string;
  assembly: string;
  /** A Chromium whose fake camera plays this camera's picture. */
  browser: Browser;
  colour: PaletteName;
  /** The key the camera page keeps in sessionStorage; none for a page that never had one. */
  cameraKey?: string;
}

export class CameraClient {
  readonly colour: PaletteName;
  readonly peer: BrowserPeer;
  readonly #join: CameraJoin;
  #socket: Client | undefined;
  #cameraId = '';
  readonly #negotiation: TrickleOffer;
  #lastPublish: Promise<void> = Promise.resolve();
  /** How many times the server said the media was rebuilt. */
  resets = 0;
  /** What the page's ON AIR mark shows: off for a new connection until the server says so. */
  onAir = false;

  private constructor(join: CameraJoin, peer: BrowserPeer) {
    this.#join = join;
    this.colour = join.colour;
    this.peer = peer;
    this.#negotiation = new TrickleOffer(peer, true, (candidate) => this.#sendCandidate(candidate));
  }

  /** Opens the page, connects, and publishes; resolves once the server has answered. */
  static async join(join: CameraJoin): Promise<CameraClient> {
    const camera = new CameraClient(join, await BrowserPeer.open(join.browser));
    await camera.connect();
    return camera;
  }

  get cameraId(): string {
    return this.#cameraId;
  }

  get socket(): Client {
    if (this.#socket === undefined) throw new Error('the camera is not connected');
    return this.#socket;
  }

  /** The newest publish (the first, or the one after `media:reset`), for tests to await. */
  get published(): Promise<void> {
    return this.#lastPublish;
  }

  /**
   * Connects a new socket (as the page does when it loads or socket.io reconnects), waits for
   * the welcome and publishes; the camera id is the one the welcome names.
   */
  async connect(): Promise<void> {
    const { url, token, assembly, cameraKey } = this.#join;
    const socket = connectPage(url, {
      token,
      assembly,
      ...(cameraKey === undefined ? {} : { cameraKey }),
    });
    this.#socket = socket;
    this.onAir = false;
    socket.on('camera:onAir', ({ onAir }) => {
      if (this.#socket === socket) this.onAir = onAir;
    });
    socket.on('camera:candidate', (candidate) => {
      if (this.#socket === socket) this.#negotiation.remoteCandidate(candidate);
    });
    // The media server restarted: the old peer connection is dead, publish again.
    socket.on('media:reset', () => {
      if (this.#socket !== socket) return;
      this.resets += 1;
      this.#startPublish();
    });
    const welcome = await welcomed(socket);
    this.#cameraId = welcome.you.cameraId ?? '';
    this.#startPublish();
    await this.#lastPublish;
  }

  /** A new peer connection and offer on the current socket (the page's retry does this). */
  async publish(): Promise<void> {
    this.#startPublish();
    await this.#lastPublish;
  }

  /** The socket drops; the peer connection keeps sending (a signaling-only blip). */
  dropSocket(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close();
  }

  /** The picture stops while the socket stays: the page's peer connection closes. */
  async stopMedia(): Promise<void> {
    this.#negotiation.closed();
    await this.peer.page.evaluate(() => window.montagePeer?.pc.close());
  }

  /** The page goes away (closed or reloading): socket and peer connection both end. */
  async leave(): Promise<void> {
    this.dropSocket();
    await this.stopMedia();
  }

  async close(): Promise<void> {
    this.dropSocket();
    await this.peer.close().catch(() => undefined);
  }

  #startPublish(): void {
    const socket = this.#socket;
    this.#lastPublish = this.#negotiation.start(async (offer) => {
      if (socket === undefined) throw new Error('the camera is not connected');
      const { sdp } = await call<{ sdp: string }>(
        socket.timeout(30_000).emitWithAck('camera:offer', { sdp: offer }),
      );
      return sdp;
    });
  }

  #sendCandidate(candidate: IceCandidateWire): void {
    const socket = this.#socket;
    if (socket === undefined || !socket.connected) return;
    socket
      .timeout(10_000)
      .emitWithAck('camera:candidate', candidate)
      .catch(() => undefined);
  }
}
