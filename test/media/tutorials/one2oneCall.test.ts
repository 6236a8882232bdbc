/**
 * Kurento's Node tutorial "one2one-call" (tutorials/javascript-node/one2one-call in Kurento 7:
 * server.js and static/js/index.js), run against this engine. Its server is reproduced below with
 * the same kurento-client calls in the same order; each user's page is the test driving a
 * TutorialPeer (what kurento-utils' WebRtcPeerSendrecv does) in its own Chromium, whose fake
 * camera shows that user's own picture.
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
import { SignallingSocket } from './SignallingSocket.js';

const CALLER_CAMERA: Quadrants = ['red', 'green', 'blue', 'yellow'];
const CALLEE_CAMERA: Quadrants = ['cyan', 'magenta', 'yellow', 'white'];

/** UserSession of the tutorial. */
interface UserSession {
  id: string;
  name: string;
  ws: SignallingSocket;
  peer: string | null;
  sdpOffer: string | null;
}

/** CallMediaPipeline of the tutorial: one pipeline, one WebRtcEndpoint per user, crossed. */
class CallMediaPipeline {
  pipeline: kurento.MediaPipeline | null = null;
  readonly webRtcEndpoint = new Map<string, kurento.WebRtcEndpoint>();

  constructor(readonly server: One2OneServer) {}

  async createPipeline(callerId: string, calleeId: string): Promise<void> {
    const kurentoClient = await this.server.getKurentoClient();
    const pipeline = await kurentoClient.create('MediaPipeline');
    try {
      const callerWebRtcEndpoint = await pipeline.create('WebRtcEndpoint');
      this.server.flushCandidates(callerId, callerWebRtcEndpoint);
      this.server.forwardCandidates(callerWebRtcEndpoint, callerId);
      const calleeWebRtcEndpoint = await pipeline.create('WebRtcEndpoint');
      this.server.flushCandidates(calleeId, calleeWebRtcEndpoint);
      this.server.forwardCandidates(calleeWebRtcEndpoint, calleeId);
      await callerWebRtcEndpoint.connect(calleeWebRtcEndpoint);
      // The tutorial does not wait for the second connect before going on.
      this.server.fireAndForget(calleeWebRtcEndpoint.connect(callerWebRtcEndpoint));
      this.pipeline = pipeline;
      this.webRtcEndpoint.set(callerId, callerWebRtcEndpoint);
      this.webRtcEndpoint.set(calleeId, calleeWebRtcEndpoint);
    } catch (error) {
      this.server.fireAndForget(pipeline.release());
      throw error;
    }
  }

  /** processOffer and gatherCandidates go out together, as in the tutorial. */
  async generateSdpAnswer(id: string, sdpOffer: string): Promise<string> {
    const endpoint = this.webRtcEndpoint.get(id);
    if (endpoint === undefined) throw new Error(`no endpoint for ${id}`);
    const answering = endpoint.processOffer(sdpOffer);
    this.server.fireAndForget(endpoint.gatherCandidates());
    return answering;
  }

  release(): void {
    if (this.pipeline !== null) this.server.fireAndForget(this.pipeline.release());
    this.pipeline = null;
  }
}

/** server.js of the tutorial: users register by name and call each other. */
class One2OneServer {
  readonly #usersById = new Map<string, UserSession>();
  readonly #usersByName = new Map<string, UserSession>();
  readonly #pipelines = new Map<string, CallMediaPipeline>();
  readonly #candidatesQueue = new Map<string, kurento.IceCandidate[]>();
  #kurentoClient: kurento.KurentoClient | null = null;
  readonly errors: unknown[] = [];

  constructor(readonly wsUri: string) {}

  connection(sessionId: string, ws: SignallingSocket): void {
    ws.onClose(() => {
      this.#stop(sessionId);
      this.#unregister(sessionId);
    });
    ws.onMessage((message) => {
      switch (message.id) {
        case 'register':
          this.#register(sessionId, String(message.name), ws);
          break;
        case 'call':
          this.#call(sessionId, String(message.to), String(message.from), String(message.sdpOffer));
          break;
        case 'incomingCallResponse':
          this.#incomingCallResponse(
            sessionId,
            String(message.from),
            String(message.callResponse),
            String(message.sdpOffer),
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

  async getKurentoClient(): Promise<kurento.KurentoClient> {
    this.#kurentoClient ??= await connectKurento(this.wsUri);
    return this.#kurentoClient;
  }

  /** Candidates of `id` that came before its endpoint go in as soon as it exists. */
  flushCandidates(id: string, endpoint: kurento.WebRtcEndpoint): void {
    for (const candidate of this.#candidatesQueue.get(id)?.splice(0) ?? []) {
      this.fireAndForget(endpoint.addIceCandidate(candidate));
    }
  }

  forwardCandidates(endpoint: kurento.WebRtcEndpoint, id: string): void {
    endpoint.on('IceCandidateFound', (event: { candidate: kurento.IceCandidate }) => {
      const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
      this.#usersById.get(id)?.ws.send({ id: 'iceCandidate', candidate });
    });
  }

  fireAndForget(call: Promise<unknown>): void {
    call.catch((error: unknown) => this.errors.push(error));
  }

  #register(id: string, name: string, ws: SignallingSocket): void {
    if (name === '' || this.#usersByName.has(name)) {
      ws.send({ id: 'registerResponse', response: 'rejected ', message: `bad name ${name}` });
      return;
    }
    const user: UserSession = { id, name, ws, peer: null, sdpOffer: null };
    this.#usersById.set(id, user);
    this.#usersByName.set(name, user);
    ws.send({ id: 'registerResponse', response: 'accepted' });
  }

  #unregister(id: string): void {
    const user = this.#usersById.get(id);
    if (user === undefined) return;
    this.#usersById.delete(id);
    this.#usersByName.delete(user.name);
  }

  #call(callerId: string, to: string, from: string, sdpOffer: string): void {
    this.#candidatesQueue.delete(callerId);
    const caller = this.#usersById.get(callerId);
    const callee = this.#usersByName.get(to);
    if (caller === undefined) return;
    if (callee === undefined) {
      caller.ws.send({
        id: 'callResponse',
        response: 'rejected: ',
        message: `User ${to} is not registered`,
      });
      return;
    }
    caller.sdpOffer = sdpOffer;
    callee.peer = from;
    caller.peer = to;
    callee.ws.send({ id: 'incomingCall', from });
  }

  #incomingCallResponse(
    calleeId: string,
    from: string,
    callResponse: string,
    calleeSdp: string,
  ): void {
    this.#candidatesQueue.delete(calleeId);
    const callee = this.#usersById.get(calleeId);
    const caller = this.#usersByName.get(from);
    if (callee === undefined) return;
    if (caller === undefined) {
      callee.ws.send({ id: 'stopCommunication', message: `unknown from = ${from}` });
      return;
    }
    if (callResponse !== 'accept') {
      caller.ws.send({ id: 'callResponse', response: 'rejected', message: 'user declined' });
      return;
    }
    const pipeline = new CallMediaPipeline(this);
    this.#pipelines.set(caller.id, pipeline);
    this.#pipelines.set(callee.id, pipeline);
    const answer = async (): Promise<void> => {
      await pipeline.createPipeline(caller.id, callee.id);
      const callerSdpAnswer = await pipeline.generateSdpAnswer(caller.id, caller.sdpOffer ?? '');
      const calleeSdpAnswer = await pipeline.generateSdpAnswer(callee.id, calleeSdp);
      callee.ws.send({ id: 'startCommunication', sdpAnswer: calleeSdpAnswer });
      caller.ws.send({ id: 'callResponse', response: 'accepted', sdpAnswer: callerSdpAnswer });
    };
    answer().catch((error: unknown) => {
      // onError of the tutorial.
      this.errors.push(error);
      pipeline.release();
      caller.ws.send({ id: 'callResponse', response: 'rejected', message: String(error) });
      callee.ws.send({ id: 'stopCommunication', message: String(error) });
    });
  }

  #stop(sessionId: string): void {
    const pipeline = this.#pipelines.get(sessionId);
    if (pipeline === undefined) return;
    this.#pipelines.delete(sessionId);
    pipeline.release();
    const stopperUser = this.#usersById.get(sessionId);
    const stoppedUser =
      stopperUser?.peer !== null && stopperUser?.peer !== undefined
        ? this.#usersByName.get(stopperUser.peer)
        : undefined;
    if (stopperUser !== undefined) stopperUser.peer = null;
    if (stoppedUser !== undefined) {
      stoppedUser.peer = null;
      this.#pipelines.delete(stoppedUser.id);
      stoppedUser.ws.send({ id: 'stopCommunication', message: 'remote user hanged out' });
    }
    this.#candidatesQueue.delete(sessionId);
  }

  #onIceCandidate(sessionId: string, received: kurento.IceCandidate): void {
    const candidate = kurento.getComplexType('IceCandidate')(received);
    const endpoint = this.#pipelines.get(sessionId)?.webRtcEndpoint.get(sessionId);
    if (endpoint !== undefined) {
      this.fireAndForget(endpoint.addIceCandidate(candidate));
    } else {
      const queue = this.#candidatesQueue.get(sessionId) ?? [];
      queue.push(candidate);
      this.#candidatesQueue.set(sessionId, queue);
    }
  }

  close(): void {
    this.#kurentoClient?.close();
  }
}

/** index.js of the tutorial for one user: its socket and, during a call, its WebRtcPeer. */
class One2OneUser {
  webRtcPeer: TutorialPeer | null = null;

  constructor(
    readonly name: string,
    readonly ws: SignallingSocket,
    readonly browser: Browser,
  ) {
    ws.onMessage((message) => {
      if (message.id === 'iceCandidate') {
        void this.webRtcPeer?.addIceCandidate(message.candidate as object);
      }
    });
  }

  async register(): Promise<void> {
    this.ws.send({ id: 'register', name: this.name });
    const response = await this.ws.next('registerResponse', 10_000);
    assert.equal(response.response, 'accepted', `${this.name} registers`);
  }

  async #sendrecvPeer(): Promise<TutorialPeer> {
    const peer = await TutorialPeer.open(this.browser, 'sendrecv');
    peer.onIceCandidate((candidate) => this.ws.send({ id: 'onIceCandidate', candidate }));
    this.webRtcPeer = peer;
    return peer;
  }

  /** call(): offers to `to`; resolves once the call is accepted and the answer is set. */
  async call(to: string): Promise<void> {
    const peer = await this.#sendrecvPeer();
    await peer.generateOffer((sdpOffer) =>
      this.ws.send({ id: 'call', from: this.name, to, sdpOffer }),
    );
  }

  /** callResponse(): the caller sets the answer it gets with 'accepted'. */
  async callResponse(timeoutMs: number): Promise<void> {
    const message = await this.ws.next('callResponse', timeoutMs);
    assert.equal(message.response, 'accepted', `the call is accepted: ${String(message.message)}`);
    await this.webRtcPeer?.processAnswer(String(message.sdpAnswer));
  }

  /** incomingCall(), accepted, then startCommunication(). */
  async acceptIncomingCall(timeoutMs: number): Promise<string> {
    const incoming = await this.ws.next('incomingCall', timeoutMs);
    const peer = await this.#sendrecvPeer();
    await peer.generateOffer((sdpOffer) =>
      this.ws.send({
        id: 'incomingCallResponse',
        from: incoming.from,
        callResponse: 'accept',
        sdpOffer,
      }),
    );
    const start = await this.ws.next('startCommunication', timeoutMs);
    await peer.processAnswer(String(start.sdpAnswer));
    return String(incoming.from);
  }

  /** stop(): disposes the peer and, unless the other side stopped, tells the server. */
  async stop(byRemote: boolean): Promise<void> {
    if (this.webRtcPeer === null) return;
    await this.webRtcPeer.dispose();
    if (!byRemote) this.ws.send({ id: 'stop' });
  }
}

let engine: EngineProcess;
let callerBrowser: Browser;
let calleeBrowser: Browser;

before(async () => {
  const dir = await mediaDir();
  engine = await startEngineProcess();
  callerBrowser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'caller.y4m'), CALLER_CAMERA),
  });
  calleeBrowser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'callee.y4m'), CALLEE_CAMERA),
  });
});

after(async () => {
  await callerBrowser?.close();
  await calleeBrowser?.close();
  await engine?.stop();
});

test('one2one-call: each user sees the other one, and hanging up stops the other side and releases the pipeline', async () => {
  const server = new One2OneServer(engine.url);
  const observer = await connectKurento(engine.url);
  const manager = await observer.getServerManager();
  const [callerWs, callerServerSide] = SignallingSocket.pair();
  const [calleeWs, calleeServerSide] = SignallingSocket.pair();
  server.connection('1', callerServerSide);
  server.connection('2', calleeServerSide);
  const caller = new One2OneUser('alice', callerWs, callerBrowser);
  const callee = new One2OneUser('bob', calleeWs, calleeBrowser);
  try {
    await caller.register();
    await callee.register();

    await caller.call('bob');
    // The callee's page answers the incoming call while the caller waits for its response.
    const [from] = await Promise.all([
      callee.acceptIncomingCall(30_000),
      caller.callResponse(45_000),
    ]);
    assert.equal(from, 'alice');

    for (const [user, expected] of [
      [caller, CALLEE_CAMERA],
      [callee, CALLER_CAMERA],
    ] as const) {
      const peer = user.webRtcPeer;
      assert.ok(peer !== null);
      const video = await peer.waitForFrames(30, 30_000);
      assert.equal(video.connectionState, 'connected');
      assert.deepEqual(
        (await peer.sampleRemote(QUADRANT_CENTRES)).map(classify),
        [...expected],
        `${user.name} sees the other user's camera`,
      );
    }
    assert.equal((await manager.getPipelines()).length, 1);

    // The caller hangs up; the server releases the call and tells the callee.
    await caller.stop(false);
    const stop = await calleeWs.next('stopCommunication', 15_000);
    assert.equal(stop.message, 'remote user hanged out');
    await callee.stop(true);
    assert.equal((await callee.webRtcPeer?.remoteVideo())?.connectionState, 'closed');
    await waitUntil(
      'the tutorial to release the call pipeline',
      async () => (await manager.getPipelines()).length === 0,
      15_000,
    );
    assert.deepEqual(server.errors, []);
  } finally {
    callerWs.close();
    calleeWs.close();
    await caller.webRtcPeer?.close();
    await callee.webRtcPeer?.close();
    server.close();
    observer.close();
  }
});
