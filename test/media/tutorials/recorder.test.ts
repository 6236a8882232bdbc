/**
 * Kurento's "recorder" tutorial, run against this engine. Kurento has no Node version of it: it
 * is tutorials/javascript-browser/recorder (js/index.js in Kurento 7), whose page runs
 * kurento-client itself. Its kurento-client calls are reproduced below from Node in the same
 * order, and its WebRtcPeers are TutorialPeers (what kurento-utils does) in Chromium. The
 * tutorial records to file:///tmp/recorder_demo.webm; this engine's recorders may only write
 * under the folders of KMS_FILE_ROOTS, so the engine gets a fresh temporary folder as its root and
 * the tutorial records to recorder_demo.webm in it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
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
  makeQuadrantY4m,
  mediaDir,
  type Quadrants,
  type Rgb,
} from '../../helpers/media.js';
import { TutorialPeer } from '../../helpers/TutorialPeer.js';
import { waitUntil } from '../../kms/helpers.js';

const run = promisify(execFile);

const CAMERA: Quadrants = ['yellow', 'blue', 'green', 'magenta'];

/** What the tutorial's onError does: log. The test collects instead and expects nothing. */
const errors: unknown[] = [];
function onError(error: unknown): void {
  if (error !== null && error !== undefined) errors.push(error);
}

/** The tutorial's setIceCandidateCallbacks: candidates cross straight between the two sides. */
function setIceCandidateCallbacks(
  webRtcPeer: TutorialPeer,
  webRtcEp: kurento.WebRtcEndpoint,
): void {
  webRtcPeer.onIceCandidate((received) => {
    const candidate = kurento.getComplexType('IceCandidate')(received);
    webRtcEp.addIceCandidate(candidate).catch(onError);
  });
  webRtcEp.on('IceCandidateFound', (event: { candidate: kurento.IceCandidate }) => {
    webRtcPeer.addIceCandidate(event.candidate).catch(onError);
  });
}

/** pipeline.create([...], callback) of the tutorial, as a promise. */
function createElements(
  pipeline: kurento.MediaPipeline,
  elements: ReadonlyArray<{ type: 'RecorderEndpoint' | 'WebRtcEndpoint'; params: object }>,
): Promise<kurento.MediaElement[]> {
  return new Promise((resolve, reject) => {
    pipeline.create(
      elements.map(({ type, params }) => ({ type, params: { ...params } })),
      (error, created) => (error ? reject(error) : resolve(created ?? [])),
    );
  });
}

/** What startRecording() leaves for the stop button. */
interface Recording {
  client: kurento.KurentoClient;
  pipeline: kurento.MediaPipeline;
  recorder: kurento.RecorderEndpoint;
  webRtcPeer: TutorialPeer;
}

/** startRecording() and its onOffer(). */
async function startRecording(
  browser: Browser,
  wsUri: string,
  fileUri: string,
): Promise<Recording> {
  const webRtcPeer = await TutorialPeer.open(browser, 'sendrecv');
  let offer = '';
  await webRtcPeer.generateOffer((sdpOffer) => (offer = sdpOffer));

  const client = await connectKurento(wsUri);
  const pipeline = await client.create('MediaPipeline');
  const [recorder, webRtc] = (await createElements(pipeline, [
    { type: 'RecorderEndpoint', params: { uri: fileUri } },
    { type: 'WebRtcEndpoint', params: {} },
  ])) as [kurento.RecorderEndpoint, kurento.WebRtcEndpoint];
  setIceCandidateCallbacks(webRtcPeer, webRtc);

  // processOffer and the connects go out together; the tutorial chains neither on the other.
  const negotiated = webRtc.processOffer(offer).then(async (answer) => {
    webRtc.gatherCandidates().catch(onError);
    await webRtcPeer.processAnswer(answer);
  });
  await client.connect(webRtc, webRtc);
  await client.connect(webRtc, recorder);
  await recorder.record();
  await negotiated;
  return { client, pipeline, recorder, webRtcPeer };
}

/**
 * The stop button: stop and release without waiting for either, then dispose the peer. The
 * tutorial passes no callbacks; these only record errors, which kurento-client would otherwise
 * log and swallow.
 */
async function stopRecording({ pipeline, recorder, webRtcPeer }: Recording): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    void recorder.stop((error) => {
      onError(error);
      resolve();
    });
  });
  const released = new Promise<void>((resolve) => {
    void pipeline.release((error) => {
      onError(error);
      resolve();
    });
  });
  await webRtcPeer.dispose();
  await Promise.all([stopped, released]);
}

/** startPlaying() and its onPlayOffer(). Resolves once EndOfStream released the pipeline. */
async function startPlaying(
  browser: Browser,
  wsUri: string,
  fileUri: string,
): Promise<{ webRtcPeer: TutorialPeer; ended: Promise<void>; client: kurento.KurentoClient }> {
  const webRtcPeer = await TutorialPeer.open(browser, 'recvonly');
  let offer = '';
  await webRtcPeer.generateOffer((sdpOffer) => (offer = sdpOffer));

  const client = await connectKurento(wsUri);
  const pipeline = await client.create('MediaPipeline');
  const webRtc = await pipeline.create('WebRtcEndpoint');
  setIceCandidateCallbacks(webRtcPeer, webRtc);
  const negotiated = webRtc.processOffer(offer).then(async (answer) => {
    webRtc.gatherCandidates().catch(onError);
    await webRtcPeer.processAnswer(answer);
  });

  const player = await pipeline.create('PlayerEndpoint', { uri: fileUri });
  const ended = new Promise<void>((resolve) => {
    player.on('EndOfStream', () => {
      pipeline.release().then(resolve, onError);
    });
  });
  await player.connect(webRtc);
  await player.play();
  await negotiated;
  return { webRtcPeer, ended, client };
}

/** Decodes the whole file (ffmpeg fails on any error) and samples its picture at `atSeconds`. */
async function fileQuadrants(file: string, atSeconds: number): Promise<string[]> {
  await run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  const width = 320;
  const height = 180;
  const { stdout } = await run(
    'ffmpeg',
    [
      ...['-v', 'error', '-ss', String(atSeconds), '-i', file, '-frames:v', '1'],
      ...['-vf', `scale=${width}:${height}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'],
    ],
    { encoding: 'buffer', maxBuffer: 10 * 1024 * 1024 },
  );
  return QUADRANT_CENTRES.map(([fx, fy]) => {
    const at = (Math.round(fy * height) * width + Math.round(fx * width)) * 3;
    const pixel: Rgb = { r: stdout[at] ?? 0, g: stdout[at + 1] ?? 0, b: stdout[at + 2] ?? 0 };
    return classify(pixel);
  });
}

/** Seconds of video in the file, from its last video packet (works without an index too). */
async function videoSeconds(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time'],
    ...['-of', 'csv=p=0', file],
  ]);
  const times = stdout
    .split('\n')
    .map(Number)
    .filter((time) => Number.isFinite(time));
  return times.length === 0 ? 0 : Math.max(...times);
}

let engine: EngineProcess;
let browser: Browser;
let dir: string;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess({ KMS_FILE_ROOTS: dir });
  browser = await launchChromium({
    fakeVideoFile: await makeQuadrantY4m(path.join(dir, 'camera.y4m'), CAMERA),
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test('recorder: the loopback is recorded to a WebM that decodes, and played back through a PlayerEndpoint it shows the camera', async () => {
  const file = path.join(dir, 'recorder_demo.webm');
  const fileUri = `file://${file}`;
  const observer = await connectKurento(engine.url);
  const manager = await observer.getServerManager();
  const clients: kurento.KurentoClient[] = [];
  const peers: TutorialPeer[] = [];
  try {
    const recording = await startRecording(browser, engine.url, fileUri);
    clients.push(recording.client);
    peers.push(recording.webRtcPeer);
    // The loopback shows the camera; about 3 s more of it (90 frames at 30 fps) are recorded.
    const shown = await recording.webRtcPeer.waitForFrames(30, 30_000);
    assert.equal(shown.connectionState, 'connected');
    assert.deepEqual((await recording.webRtcPeer.sampleRemote(QUADRANT_CENTRES)).map(classify), [
      ...CAMERA,
    ]);
    await recording.webRtcPeer.waitForFrames(shown.frames + 90, 30_000);
    await stopRecording(recording);
    await waitUntil(
      'the recording pipeline to be released',
      async () => (await manager.getPipelines()).length === 0,
      15_000,
    );

    // The file is a whole recording: it decodes without error and shows the camera.
    assert.ok((await stat(file)).size > 0);
    const seconds = await videoSeconds(file);
    assert.ok(seconds > 1.5 && seconds < 30, `the recording holds ${seconds} s of video`);
    assert.deepEqual(await fileQuadrants(file, seconds / 2), [...CAMERA]);

    // The play button: the recording comes back to the browser, and ends.
    const playing = await startPlaying(browser, engine.url, fileUri);
    clients.push(playing.client);
    peers.push(playing.webRtcPeer);
    const played = await playing.webRtcPeer.waitForFrames(15, 30_000);
    assert.equal(played.connectionState, 'connected');
    assert.deepEqual(
      (await playing.webRtcPeer.sampleRemote(QUADRANT_CENTRES)).map(classify),
      [...CAMERA],
      'the played-back recording shows the camera',
    );
    await playing.ended;
    assert.equal((await manager.getPipelines()).length, 0, 'EndOfStream released the pipeline');
    assert.deepEqual(errors, []);
  } finally {
    for (const peer of peers) await peer.close();
    for (const client of clients) client.close();
    observer.close();
  }
});
