/**
 * Kurento's Node tutorial "hello-world" (tutorials/javascript-node/hello-world in Kurento 7:
 * server.js and static/js/index.js), run against this engine. Its server is reproduced below with
 * the same kurento-client calls in the same order; its page is the test driving a TutorialPeer
 * (what kurento-utils' WebRtcPeerSendrecv does) in Chromium.
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
import { TutorialPeer } from '../../helpers/TutorialPeer.js';
import { waitUntil } from '../../kms/helpers.js';
import { SignallingSocket, type TutorialMessage } from './SignallingSocket.js';

const CAMERA: Quadrants = ['red', 'green', 'blue', 'yellow'];

interface Session {
  pipeline: kurento.MediaPipeline;
  webRtcEndpoint: kurento.WebRtcEndpoint;
}

/** server.js of the tutorial: one loopback pipeline per browser session. */
class HelloWorldServer {
  readonly #sessions = new Map<string, Session>();
  readonly #candidatesQueue = new Map<string, kurento.IceCandidate[]>();
  #kurentoClient: kurento.KurentoClient | null = null;
  /** What the tutorial would have logged or sent as an error; the test expects none. */
  readonly errors: unknown[] = [];

  constructor(readonly wsUri: string) {}

  connection(sessionId: string, ws: SignallingSocket): void {
    ws.onClose(() => this.stop(sessionId));
    ws.onMessage((message) => {
      switch (message.id) {
        case 'start':
          this.#start(sessionId, ws, String(message.sdpOffer)).then(
            (sdpAnswer) => ws.send({ id: 'startResponse', sdpAnswer }),
            (error: unknown) => {
              this.errors.push(error);
              ws.send({ id: 'error', message: String(error) });
            },
          );
          break;
        case 'stop':
          this.stop(sessionId);
          break;
        case 'onIceCandidate':
          this.#onIceCandidate(sessionId, message.candidate as kurento.IceCandidate);
          break;
        default:
          ws.send({ id: 'error', message: `Invalid message ${message.id}` });
      }
    });
  }

  /** The tutorial creates its kurento-client on first use and keeps it. */
  async #getKurentoClient(): Promise<kurento.KurentoClient> {
    this.#kurentoClient ??= await connectKurento(this.wsUri);
    return this.#kurentoClient;
  }

  async #start(sessionId: string, ws: SignallingSocket, sdpOffer: string): Promise<string> {
    const kurentoClient = await this.#getKurentoClient();
    const pipeline = await kurentoClient.create('MediaPipeline');
    try {
      // createMediaElements
      const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
      // Candidates that came before the endpoint go in first, before any negotiation.
      for (const candidate of this.#candidatesQueue.get(sessionId)?.splice(0) ?? []) {
        this.#fireAndForget(webRtcEndpoint.addIceCandidate(candidate));
      }
      // connectMediaElements: the loopback.
      await webRtcEndpoint.connect(webRtcEndpoint);
      webRtcEndpoint.on('IceCandidateFound', (event: { candidate: kurento.IceCandidate }) => {
        const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
        ws.send({ id: 'iceCandidate', candidate });
      });
      // processOffer and gatherCandidates go out together: the tutorial does not wait for the
      // answer before asking for candidates.
      const answering = webRtcEndpoint.processOffer(sdpOffer);
      this.#fireAndForget(webRtcEndpoint.gatherCandidates());
      const sdpAnswer = await answering;
      this.#sessions.set(sessionId, { pipeline, webRtcEndpoint });
      return sdpAnswer;
    } catch (error) {
      this.#fireAndForget(pipeline.release());
      throw error;
    }
  }

  stop(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return;
    this.#fireAndForget(session.pipeline.release());
    this.#sessions.delete(sessionId);
    this.#candidatesQueue.delete(sessionId);
  }

  #onIceCandidate(sessionId: string, received: kurento.IceCandidate): void {
    const candidate = kurento.getComplexType('IceCandidate')(received);
    const session = this.#sessions.get(sessionId);
    if (session !== undefined) {
      this.#fireAndForget(session.webRtcEndpoint.addIceCandidate(candidate));
    } else {
      const queue = this.#candidatesQueue.get(sessionId) ?? [];
      queue.push(candidate);
      this.#candidatesQueue.set(sessionId, queue);
    }
  }

  /** The tutorial does not wait for these calls; their failures are still recorded. */
  #fireAndForget(call: Promise<unknown>): void {
    call.catch((error: unknown) => this.errors.push(error));
  }

  close(): void {
    this.#kurentoClient?.close();
  }
}

let engine: EngineProcess;
let browser: Browser;

before(async () => {
  const dir = await mediaDir();
  engine = await startEngineProcess();
  browser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'camera.y4m'), CAMERA),
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test('hello-world: the browser sees its own camera back through a WebRtcEndpoint loopback, and stop releases the pipeline', async () => {
  const server = new HelloWorldServer(engine.url);
  const observer = await connectKurento(engine.url);
  const manager = await observer.getServerManager();
  const [ws, serverSide] = SignallingSocket.pair();
  server.connection('session-1', serverSide);
  const peer = await TutorialPeer.open(browser, 'sendrecv');
  try {
    // index.js: start()
    let candidatesIn = 0;
    let candidatesOut = 0;
    ws.onMessage((message: TutorialMessage) => {
      if (message.id !== 'iceCandidate') return;
      candidatesIn += 1;
      void peer.addIceCandidate(message.candidate as object);
    });
    peer.onIceCandidate((candidate) => {
      candidatesOut += 1;
      ws.send({ id: 'onIceCandidate', candidate });
    });
    await peer.generateOffer((sdpOffer) => ws.send({ id: 'start', sdpOffer }));
    const response = await ws.next('startResponse', 30_000);
    await peer.processAnswer(String(response.sdpAnswer));

    const video = await peer.waitForFrames(30, 30_000);
    assert.equal(video.connectionState, 'connected');
    assert.ok(candidatesIn > 0 && candidatesOut > 0, 'candidates trickled both ways');
    assert.deepEqual(
      (await peer.sampleRemote(QUADRANT_CENTRES)).map(classify),
      [...CAMERA],
      'the picture that comes back is the camera, whole and the right way round',
    );
    assert.equal((await manager.getPipelines()).length, 1);

    // index.js: stop()
    ws.send({ id: 'stop' });
    await peer.dispose();
    await waitUntil(
      'the tutorial to release its pipeline',
      async () => (await manager.getPipelines()).length === 0,
      15_000,
    );
    assert.deepEqual(server.errors, []);
    assert.deepEqual(
      ws.unclaimed.filter((message) => message.id === 'error'),
      [],
    );
  } finally {
    ws.close();
    await peer.close();
    server.close();
    observer.close();
  }
});
