/**
 * Kurento's Node tutorial "one2many-call" (tutorials/javascript-node/one2many-call in Kurento 7:
 * server.js and static/js/index.js), run against this engine. Its server is reproduced below with
 * the same kurento-client calls in the same order; the presenter's page is a sendonly TutorialPeer
 * (kurento-utils' WebRtcPeerSendonly) in a Chromium whose fake camera shows a known picture, and
 * each viewer's page a recvonly one (WebRtcPeerRecvonly) in another Chromium.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import kurento from 'kurento-client';
import type { Browser } from 'playwright-core';
import { QUADRANT_CENTRES } from '../../helpers/BrowserPeer.js';
import { launchChromium } from '../../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../../helpers/engineProcess.js';
import { connectKurento } from '../../helpers/kurento.js';
import { classify, makeQuadrantY4m, mediaDir, type Quadrants } from '../../helpers/media.js';
import { TutorialPeer, type TutorialPeerMode } from '../../helpers/TutorialPeer.js';
import { waitUntil } from '../../kms/helpers.js';
import { SignallingSocket } from './SignallingSocket.js';

const PRESENTER_CAMERA: Quadrants = ['magenta', 'green', 'yellow', 'blue'];
const NO_PRESENTER_MESSAGE = 'No active presenter. Try again later...';

interface Presenter {
  id: string;
  pipeline: kurento.MediaPipeline | null;
  webRtcEndpoint: kurento.WebRtcEndpoint | null;
}

interface Viewer {
  webRtcEndpoint: kurento.WebRtcEndpoint;
  ws: SignallingSocket;
}

/** server.js of the tutorial: one presenter, any number of viewers, one pipeline. */
class One2ManyServer {
  #presenter: Presenter | null = null;
  readonly #viewers = new Map<string, Viewer>();
  readonly #candidatesQueue = new Map<string, kurento.IceCandidate[]>();
  #kurentoClient: kurento.KurentoClient | null = null;
  readonly errors: unknown[] = [];
  /** How many times the tutorial closed its kurento-client (once nobody is left). */
  clientCloses = 0;

  constructor(readonly wsUri: string) {}

  connection(sessionId: string, ws: SignallingSocket): void {
    ws.onClose(() => this.#stop(sessionId));
    ws.onMessage((message) => {
      switch (message.id) {
        case 'presenter':
          this.#startPresenter(sessionId, ws, String(message.sdpOffer)).then(
            (sdpAnswer) => ws.send({ id: 'presenterResponse', response: 'accepted', sdpAnswer }),
            (error: unknown) =>
              ws.send({ id: 'presenterResponse', response: 'rejected', message: String(error) }),
          );
          break;
        case 'viewer':
          this.#startViewer(sessionId, ws, String(message.sdpOffer)).then(
            (sdpAnswer) => ws.send({ id: 'viewerResponse', response: 'accepted', sdpAnswer }),
            (error: unknown) =>
              ws.send({ id: 'viewerResponse', response: 'rejected', message: String(error) }),
          );
          break;
        case 'stop':
          this.#stop(sessionId);
          break;
        case 'onIceCandidate':
          this.#onIceCandidate(sessionId, message.candidate as kurento.IceCandidate);
          break;
        default:
          ws.send({ id: 'error', message: `Invalid message ${message.id}` });
      }
    });
  }

  async #getKurentoClient(): Promise<kurento.KurentoClient> {
    this.#kurentoClient ??= await connectKurento(this.wsUri);
    return this.#kurentoClient;
  }

  /** Every failure the tutorial answers with stop(sessionId) and a rejection. */
  #fail(sessionId: string, error: unknown): never {
    if (error !== NO_PRESENTER_MESSAGE) this.errors.push(error);
    this.#stop(sessionId);
    throw error;
  }

  async #startPresenter(
    sessionId: string,
    ws: SignallingSocket,
    sdpOffer: string,
  ): Promise<string> {
    this.#candidatesQueue.delete(sessionId);
    if (this.#presenter !== null) {
      this.#fail(sessionId, 'Another user is currently acting as presenter. Try again later ...');
    }
    const presenter: Presenter = { id: sessionId, pipeline: null, webRtcEndpoint: null };
    this.#presenter = presenter;
    try {
      const kurentoClient = await this.#getKurentoClient();
      const pipeline = await kurentoClient.create('MediaPipeline');
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      presenter.pipeline = pipeline;
      const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      presenter.webRtcEndpoint = webRtcEndpoint;
      this.#flushCandidates(sessionId, webRtcEndpoint);
      this.#forwardCandidates(webRtcEndpoint, ws);
      const answering = webRtcEndpoint.processOffer(sdpOffer);
      this.#fireAndForget(webRtcEndpoint.gatherCandidates());
      const sdpAnswer = await answering;
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      return sdpAnswer;
    } catch (error) {
      return this.#fail(sessionId, error);
    }
  }

  async #startViewer(sessionId: string, ws: SignallingSocket, sdpOffer: string): Promise<string> {
    this.#candidatesQueue.delete(sessionId);
    const presenter = this.#presenter;
    if (presenter?.pipeline == null || presenter.webRtcEndpoint === null) {
      return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
    }
    try {
      const webRtcEndpoint = await presenter.pipeline.create('WebRtcEndpoint');
      this.#viewers.set(sessionId, { webRtcEndpoint, ws });
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      this.#flushCandidates(sessionId, webRtcEndpoint);
      this.#forwardCandidates(webRtcEndpoint, ws);
      const sdpAnswer = await webRtcEndpoint.processOffer(sdpOffer);
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      // The viewer is connected only after its negotiation, then gathers.
      await presenter.webRtcEndpoint.connect(webRtcEndpoint);
      if (this.#presenter === null) return this.#fail(sessionId, NO_PRESENTER_MESSAGE);
      this.#fireAndForget(webRtcEndpoint.gatherCandidates());
      return sdpAnswer;
    } catch (error) {
      return this.#fail(sessionId, error);
    }
  }

  #flushCandidates(sessionId: string, endpoint: kurento.WebRtcEndpoint): void {
    for (const candidate of this.#candidatesQueue.get(sessionId)?.splice(0) ?? []) {
      this.#fireAndForget(endpoint.addIceCandidate(candidate));
    }
  }

  #forwardCandidates(endpoint: kurento.WebRtcEndpoint, ws: SignallingSocket): void {
    endpoint.on('IceCandidateFound', (event: { candidate: kurento.IceCandidate }) => {
      const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
      ws.send({ id: 'iceCandidate', candidate });
    });
  }

  #stop(sessionId: string): void {
    const presenter = this.#presenter;
    if (presenter !== null && presenter.id === sessionId) {
      for (const viewer of this.#viewers.values()) viewer.ws.send({ id: 'stopCommunication' });
      if (presenter.pipeline !== null) this.#fireAndForget(presenter.pipeline.release());
      this.#presenter = null;
      this.#viewers.clear();
    } else {
      const viewer = this.#viewers.get(sessionId);
      if (viewer !== undefined) {
        this.#fireAndForget(viewer.webRtcEndpoint.release());
        this.#viewers.delete(sessionId);
      }
    }
    this.#candidatesQueue.delete(sessionId);
    // The tutorial's `viewers` is an array used as a map, so its length is always 0: the client
    // is closed whenever there is no presenter. (The original then calls close() on null when a
    // viewer comes with no presenter; that crash of the tutorial is left out.)
    if (this.#presenter === null && this.#kurentoClient !== null) {
      this.#kurentoClient.close();
      this.#kurentoClient = null;
      this.clientCloses += 1;
    }
  }

  #onIceCandidate(sessionId: string, received: kurento.IceCandidate): void {
    const candidate = kurento.getComplexType('IceCandidate')(received);
    const presenter = this.#presenter;
    const viewer = this.#viewers.get(sessionId);
    if (presenter?.id === sessionId && presenter.webRtcEndpoint !== null) {
      this.#fireAndForget(presenter.webRtcEndpoint.addIceCandidate(candidate));
    } else if (viewer !== undefined) {
      this.#fireAndForget(viewer.webRtcEndpoint.addIceCandidate(candidate));
    } else {
      const queue = this.#candidatesQueue.get(sessionId) ?? [];
      queue.push(candidate);
      this.#candidatesQueue.set(sessionId, queue);
    }
  }

  #fireAndForget(call: Promise<unknown>): void {
    call.catch((error: unknown) => this.errors.push(error));
  }

  close(): void {
    this.#kurentoClient?.close();
  }
}

/** index.js of the tutorial for one page: presenter() or viewer(), then stop or dispose. */
class One2ManyPage {
  webRtcPeer: TutorialPeer | null = null;

  constructor(
    readonly ws: SignallingSocket,
    readonly browser: Browser,
  ) {
    ws.onMessage((message) => {
      if (message.id === 'iceCandidate') {
        void this.webRtcPeer?.addIceCandidate(message.candidate as object);
      }
    });
  }

  /** presenter() or viewer(): offers and returns the server's response message. */
  async start(role: 'presenter' | 'viewer', timeoutMs: number): Promise<Record<string, unknown>> {
    const mode: TutorialPeerMode = role === 'presenter' ? 'sendonly' : 'recvonly';
    const peer = await TutorialPeer.open(this.browser, mode);
    peer.onIceCandidate((candidate) => this.ws.send({ id: 'onIceCandidate', candidate }));
    this.webRtcPeer = peer;
    await peer.generateOffer((sdpOffer) => this.ws.send({ id: role, sdpOffer }));
    const response = await this.ws.next(`${role}Response`, timeoutMs);
    if (response.response === 'accepted') await peer.processAnswer(String(response.sdpAnswer));
    else await peer.dispose();
    return response;
  }

  /** stop(): tells the server, then disposes. */
  async stop(): Promise<void> {
    this.ws.send({ id: 'stop' });
    await this.webRtcPeer?.dispose();
  }
}

let engine: EngineProcess;
let presenterBrowser: Browser;
let viewerBrowser: Browser;

before(async () => {
  const dir = await mediaDir();
  engine = await startEngineProcess();
  presenterBrowser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'presenter.y4m'), PRESENTER_CAMERA),
  });
  viewerBrowser = await launchChromium();
});

after(async () => {
  await presenterBrowser?.close();
  await viewerBrowser?.close();
  await engine?.stop();
});

test('one2many-call: two viewers see the presenter, and the presenter leaving stops them and releases the pipeline', async () => {
  const server = new One2ManyServer(engine.url);
  const observer = await connectKurento(engine.url);
  const manager = await observer.getServerManager();
  const sockets: SignallingSocket[] = [];
  const pages: One2ManyPage[] = [];
  const open = (sessionId: string, browser: Browser): One2ManyPage => {
    const [ws, serverSide] = SignallingSocket.pair();
    server.connection(sessionId, serverSide);
    sockets.push(ws);
    const page = new One2ManyPage(ws, browser);
    pages.push(page);
    return page;
  };
  try {
    const presenter = open('1', presenterBrowser);
    const viewers = [open('2', viewerBrowser), open('3', viewerBrowser)];

    assert.equal((await presenter.start('presenter', 30_000)).response, 'accepted');
    for (const viewer of viewers) {
      const response = await viewer.start('viewer', 30_000);
      assert.equal(response.response, 'accepted', String(response.message));
    }
    for (const [index, viewer] of viewers.entries()) {
      const peer = viewer.webRtcPeer;
      assert.ok(peer !== null);
      const video = await peer.waitForFrames(30, 30_000);
      assert.equal(video.connectionState, 'connected');
      assert.deepEqual(
        (await peer.sampleRemote(QUADRANT_CENTRES)).map(classify),
        [...PRESENTER_CAMERA],
        `viewer ${index + 1} sees the presenter's camera`,
      );
    }
    const [pipeline] = await manager.getPipelines();
    assert.ok(pipeline !== undefined);
    assert.equal(
      (await pipeline.getChildren()).length,
      3,
      'one presenter and two viewer endpoints',
    );

    // The presenter leaves: every viewer gets stopCommunication and disposes its peer.
    await presenter.stop();
    for (const viewer of viewers) {
      await viewer.ws.next('stopCommunication', 15_000);
      await viewer.webRtcPeer?.dispose();
      assert.equal((await viewer.webRtcPeer?.remoteVideo())?.connectionState, 'closed');
    }
    await waitUntil(
      'the tutorial to release the presenter pipeline',
      async () => (await manager.getPipelines()).length === 0,
      15_000,
    );
    assert.equal(server.clientCloses, 1, 'the tutorial closes its client once nobody is left');

    // A viewer that comes now is turned away by the tutorial's own message.
    const late = open('4', viewerBrowser);
    const response = await late.start('viewer', 15_000);
    assert.equal(response.response, 'rejected');
    assert.equal(response.message, NO_PRESENTER_MESSAGE);
    assert.deepEqual(server.errors, []);
  } finally {
    for (const ws of sockets) ws.close();
    for (const page of pages) await page.webRtcPeer?.close();
    server.close();
    observer.close();
  }
});
