/**
 * Kurento's "player" tutorial, run against this engine. Kurento has no Node version of it: it is
 * the Java tutorial tutorials/java/player (PlayerHandler.java, UserSession.java and
 * static/js/index.js in Kurento 7). Its handler is reproduced below from Node with the same
 * kurento-client calls in the same order (the Java client's calls are synchronous, so each one
 * is awaited, and a session's messages are handled one after the other as Spring does); its page
 * is the test driving a recvonly TutorialPeer (kurento-utils' WebRtcPeerRecvonly) in Chromium.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import kurento from 'kurento-client';
import type { Browser } from 'playwright-core';
import { QUADRANT_CENTRES } from '../../helpers/BrowserPeer.js';
import { launchChromium } from '../../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../../helpers/engineProcess.js';
import { connectKurento } from '../../helpers/kurento.js';
import {
  classify,
  makeQuadrantClip,
  mediaDir,
  type PaletteName,
  type Quadrants,
} from '../../helpers/media.js';
import { TutorialPeer } from '../../helpers/TutorialPeer.js';
import { waitUntil } from '../../kms/helpers.js';
import { SignallingSocket, type TutorialMessage } from './SignallingSocket.js';

const run = promisify(execFile);

/** The clip shows OPENING for its first 3 s and REST for the 27 s after. */
const OPENING: Quadrants = ['blue', 'yellow', 'magenta', 'green'];
const REST: Quadrants = ['cyan', 'red', 'white', 'blue'];
const OPENING_SECONDS = 3;
const CLIP_SECONDS = 30;

/** UserSession.java. */
interface UserSession {
  mediaPipeline: kurento.MediaPipeline;
  webRtcEndpoint: kurento.WebRtcEndpoint;
  playerEndpoint: kurento.PlayerEndpoint;
}

/** PlayerHandler.java. */
class PlayerHandler {
  readonly #users = new Map<string, UserSession>();
  /** Each session's messages, handled one at a time. */
  readonly #queues = new Map<string, Promise<void>>();
  readonly errors: unknown[] = [];
  /** What debugDot logged: the two dot graphs and the server's CPU and memory. */
  debugDot: { pipelineDot: string; playerDot: string; cpus: number; cpu: number; ram: number } = {
    pipelineDot: '',
    playerDot: '',
    cpus: 0,
    cpu: 0,
    ram: 0,
  };

  constructor(readonly kurentoClient: kurento.KurentoClient) {}

  connection(sessionId: string, session: SignallingSocket): void {
    session.onClose(() => this.#enqueue(sessionId, () => this.#stop(sessionId)));
    session.onMessage((message) =>
      this.#enqueue(sessionId, async () => {
        try {
          await this.#handleTextMessage(sessionId, session, message);
        } catch (error) {
          this.errors.push(error);
          if (this.#users.has(sessionId)) session.send({ id: 'error', message: String(error) });
        }
      }),
    );
  }

  #enqueue(sessionId: string, work: () => Promise<void>): void {
    const queue = (this.#queues.get(sessionId) ?? Promise.resolve()).then(work);
    this.#queues.set(sessionId, queue);
  }

  async #handleTextMessage(
    sessionId: string,
    session: SignallingSocket,
    message: TutorialMessage,
  ): Promise<void> {
    switch (message.id) {
      case 'start':
        return this.#start(sessionId, session, message);
      case 'stop':
        return this.#stop(sessionId);
      case 'pause':
        await this.#users.get(sessionId)?.playerEndpoint.pause();
        return;
      case 'resume':
        return this.#resume(sessionId, session);
      case 'debugDot':
        return this.#debugDot(sessionId);
      case 'doSeek':
        return this.#doSeek(sessionId, session, Number(message.position));
      case 'getPosition':
        return this.#getPosition(sessionId, session);
      case 'onIceCandidate': {
        const user = this.#users.get(sessionId);
        const candidate = message.candidate as kurento.IceCandidate;
        await user?.webRtcEndpoint.addIceCandidate(
          kurento.getComplexType('IceCandidate')({
            candidate: candidate.candidate,
            sdpMid: candidate.sdpMid,
            sdpMLineIndex: candidate.sdpMLineIndex,
          }),
        );
        return;
      }
      default:
        session.send({ id: 'error', message: `Invalid message with id ${message.id}` });
    }
  }

  async #start(
    sessionId: string,
    session: SignallingSocket,
    message: TutorialMessage,
  ): Promise<void> {
    // 1. Media pipeline
    const mediaPipeline = await this.kurentoClient.create('MediaPipeline');
    const webRtcEndpoint = await mediaPipeline.create('WebRtcEndpoint');
    const videourl = String(message.videourl);
    const playerEndpoint = await mediaPipeline.create('PlayerEndpoint', { uri: videourl });
    this.#users.set(sessionId, { mediaPipeline, webRtcEndpoint, playerEndpoint });
    await playerEndpoint.connect(webRtcEndpoint);

    // 2. WebRtcEndpoint: ICE candidates, then the answer.
    webRtcEndpoint.on('IceCandidateFound', (event: { candidate: kurento.IceCandidate }) =>
      session.send({ id: 'iceCandidate', candidate: event.candidate }),
    );
    const sdpAnswer = await webRtcEndpoint.processOffer(String(message.sdpOffer));
    session.send({ id: 'startResponse', sdpAnswer });
    webRtcEndpoint.on('MediaStateChanged', (event: { newState: string }) => {
      if (event.newState !== 'CONNECTED') return;
      playerEndpoint.getVideoInfo().then(
        (videoInfo) => session.send(PlayerHandler.#videoInfoMessage(videoInfo)),
        (error: unknown) => this.errors.push(error),
      );
    });
    await webRtcEndpoint.gatherCandidates();

    // 3. PlayEndpoint
    playerEndpoint.on('Error', () => this.#sendPlayEnd(sessionId, session));
    playerEndpoint.on('EndOfStream', () => this.#sendPlayEnd(sessionId, session));
    await playerEndpoint.play();
  }

  static #videoInfoMessage(videoInfo: kurento.VideoInfo): TutorialMessage {
    return {
      id: 'videoInfo',
      isSeekable: videoInfo.isSeekable,
      initSeekable: videoInfo.seekableInit,
      endSeekable: videoInfo.seekableEnd,
      videoDuration: videoInfo.duration,
    };
  }

  async #resume(sessionId: string, session: SignallingSocket): Promise<void> {
    const user = this.#users.get(sessionId);
    if (user === undefined) return;
    await user.playerEndpoint.play();
    const videoInfo = await user.playerEndpoint.getVideoInfo();
    session.send(PlayerHandler.#videoInfoMessage(videoInfo));
  }

  async #stop(sessionId: string): Promise<void> {
    const user = this.#users.get(sessionId);
    this.#users.delete(sessionId);
    if (user === undefined) return;
    // UserSession.release()
    await user.playerEndpoint.stop();
    await user.mediaPipeline.release();
  }

  async #debugDot(sessionId: string): Promise<void> {
    const user = this.#users.get(sessionId);
    if (user !== undefined) {
      this.debugDot.pipelineDot = await user.mediaPipeline.getGstreamerDot();
      // The Java client calls this one getElementGstreamerDot; on the wire it is getGstreamerDot.
      this.debugDot.playerDot = await user.playerEndpoint.getGstreamerDot();
    }
    const sm = await this.kurentoClient.getServerManager();
    this.debugDot.cpus = await sm.getCpuCount();
    this.debugDot.cpu = await sm.getUsedCpu(1000);
    this.debugDot.ram = await sm.getUsedMemory();
  }

  async #doSeek(sessionId: string, session: SignallingSocket, position: number): Promise<void> {
    const user = this.#users.get(sessionId);
    if (user === undefined) return;
    try {
      await user.playerEndpoint.setPosition(position);
    } catch {
      session.send({ id: 'seek', message: 'Seek failed' });
    }
  }

  async #getPosition(sessionId: string, session: SignallingSocket): Promise<void> {
    const user = this.#users.get(sessionId);
    if (user === undefined) return;
    const position = await user.playerEndpoint.getPosition();
    session.send({ id: 'position', position });
  }

  #sendPlayEnd(sessionId: string, session: SignallingSocket): void {
    if (this.#users.has(sessionId)) session.send({ id: 'playEnd' });
  }
}

/** index.js of the tutorial: its socket and its WebRtcPeerRecvonly. */
class PlayerPage {
  webRtcPeer: TutorialPeer | null = null;

  constructor(readonly ws: SignallingSocket) {
    ws.onMessage((message) => {
      if (message.id === 'iceCandidate') {
        void this.webRtcPeer?.addIceCandidate(message.candidate as object);
      }
    });
  }

  async start(browser: Browser, videourl: string): Promise<TutorialPeer> {
    const peer = await TutorialPeer.open(browser, 'recvonly');
    peer.onIceCandidate((candidate) => this.ws.send({ id: 'onIceCandidate', candidate }));
    this.webRtcPeer = peer;
    await peer.generateOffer((sdpOffer) => this.ws.send({ id: 'start', sdpOffer, videourl }));
    const response = await this.ws.next('startResponse', 30_000);
    await peer.processAnswer(String(response.sdpAnswer));
    return peer;
  }

  async getPosition(): Promise<number> {
    this.ws.send({ id: 'getPosition' });
    return Number((await this.ws.next('position', 10_000)).position);
  }
}

/** Waits until the remote picture is `expected` (the clip changes picture at 3 s). */
async function waitForPicture(
  peer: TutorialPeer,
  expected: Quadrants,
  what: string,
  timeoutMs: number,
): Promise<void> {
  let seen: PaletteName[] = [];
  try {
    await waitUntil(
      what,
      async () => {
        seen = (await peer.sampleRemote(QUADRANT_CENTRES)).map(classify);
        return seen.every((colour, index) => colour === expected[index]);
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${String(error)}; the picture last was ${seen.join(',')}`);
  }
}

let engine: EngineProcess;
let browser: Browser;
let clip: string;

before(async () => {
  const dir = await mediaDir();
  // The player may read only under its configured roots (KMS_FILE_ROOTS): the clip's folder.
  engine = await startEngineProcess({ KMS_FILE_ROOTS: dir });
  browser = await launchChromium();
  const size = { width: 320, height: 180, container: 'webm' as const };
  const opening = await makeQuadrantClip(path.join(dir, 'opening.webm'), OPENING, {
    seconds: OPENING_SECONDS,
    ...size,
  });
  const rest = await makeQuadrantClip(path.join(dir, 'rest.webm'), REST, {
    seconds: CLIP_SECONDS - OPENING_SECONDS,
    ...size,
  });
  const list = path.join(dir, 'list.txt');
  await writeFile(list, `file '${opening}'\nfile '${rest}'\n`);
  clip = path.join(dir, 'clip.webm');
  await run('ffmpeg', [
    '-v',
    'error',
    '-f',
    'concat',
    '-safe',
    '0',
    '-i',
    list,
    '-c',
    'copy',
    clip,
  ]);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test('player: a clip plays in the browser, videoInfo, pause, resume, seek and position behave, the end sends playEnd, and stop releases', async () => {
  const kurentoClient = await connectKurento(engine.url);
  const handler = new PlayerHandler(kurentoClient);
  const [ws, serverSide] = SignallingSocket.pair();
  handler.connection('session-1', serverSide);
  const page = new PlayerPage(ws);
  try {
    const peer = await page.start(browser, `file://${clip}`);

    // MediaStateChanged CONNECTED makes the handler send the clip's VideoInfo.
    const videoInfo = await ws.next('videoInfo', 30_000);
    assert.equal(videoInfo.isSeekable, true);
    assert.equal(Number(videoInfo.initSeekable), 0);
    assert.ok(
      Math.abs(Number(videoInfo.videoDuration) - CLIP_SECONDS * 1000) < 500,
      `duration ${String(videoInfo.videoDuration)} ms`,
    );
    assert.ok(
      Math.abs(Number(videoInfo.endSeekable) - CLIP_SECONDS * 1000) < 500,
      `seekable end ${String(videoInfo.endSeekable)} ms`,
    );

    await peer.waitForFrames(15, 30_000);
    assert.deepEqual((await peer.sampleRemote(QUADRANT_CENTRES)).map(classify), [...OPENING]);
    await waitForPicture(peer, REST, 'the clip to reach its second picture', 20_000);

    // pause: the position stands still; resume: it moves on and VideoInfo comes again.
    ws.send({ id: 'pause' });
    const pausedAt = await page.getPosition();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await page.getPosition(), pausedAt, 'a paused player stays where it is');
    ws.send({ id: 'resume' });
    assert.equal((await ws.next('videoInfo', 10_000)).isSeekable, true);
    await waitUntil(
      'the resumed clip to move on',
      async () => (await page.getPosition()) > pausedAt,
      10_000,
    );

    // doSeek back into the opening: its picture, which had gone, comes back.
    ws.send({ id: 'doSeek', position: '1000' });
    await waitForPicture(peer, OPENING, 'the seek back to show the opening again', 15_000);
    const position = await page.getPosition();
    assert.ok(position >= 1000 && position < OPENING_SECONDS * 1000, `position ${position} ms`);

    ws.send({ id: 'debugDot' });
    await waitUntil('debugDot', () => handler.debugDot.ram > 0, 15_000);
    assert.match(handler.debugDot.pipelineDot, /^digraph/);
    assert.match(handler.debugDot.playerDot, /^digraph/);
    assert.ok(handler.debugDot.cpus >= 1);

    // doSeek to 1.5 s before the end: playEnd comes long before the 26 s left before the seek.
    ws.send({ id: 'doSeek', position: String(CLIP_SECONDS * 1000 - 1500) });
    await ws.next('playEnd', 15_000);

    // stop: the page disposes its peer, the handler stops the player and releases the pipeline.
    await peer.dispose();
    ws.send({ id: 'stop' });
    const manager = await kurentoClient.getServerManager();
    await waitUntil(
      'the handler to release its pipeline',
      async () => (await manager.getPipelines()).length === 0,
      15_000,
    );
    assert.deepEqual(handler.errors, []);
    assert.deepEqual(
      ws.unclaimed.filter((message) => message.id === 'seek' || message.id === 'error'),
      [],
    );
  } finally {
    ws.close();
    await page.webRtcPeer?.close();
    kurentoClient.close();
  }
});
