import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { classify, mediaDir, type PaletteName } from '../helpers/media.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { gridCells, makeMovingBoxClip, readCell } from './hubHelpers.js';

/** Size of the decoded frames the test reads (the engine's output is 640x360). */
const WIDTH = 320;
const HEIGHT = 180;
const SWITCHES = Number(process.env.TEST_SWITCHES ?? 100);
/** Composite output; the lone player is 4:3, so the switcher must letterbox it. */
const COMPOSITE = { width: 640, height: 360 };
const PLAYER = { width: 240, height: 180 };
/** Long enough for setup plus every switch, short enough to encode in a few seconds. */
const CLIP_SECONDS = 40;

let engine: EngineProcess;
let dir: string;
/** One kurento-client for the file, as an application holds one. */
let client: kurento.KurentoClient;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  client = await connectKurento(engine.url);
});

after(async () => {
  client?.close();
  await engine?.stop();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The clips every test shares (encoded once per run): three grid tiles and the lone player. */
function clips(): Promise<string[]> {
  const colours: PaletteName[] = ['red', 'green', 'blue', 'yellow'];
  return Promise.all(
    colours.map((c, i) =>
      makeMovingBoxClip(path.join(dir, `switch-${c}.webm`), c, {
        seconds: CLIP_SECONDS,
        toneHz: 300 + 200 * i,
        ...(c === 'yellow' ? PLAYER : { width: 320, height: 180 }),
      }),
    ),
  );
}

/** 'grid' when the picture is the composite (four tiles), else the single source's colour. */
function whatIsShown(receiver: RtpReceiver): string {
  const frame = receiver.latest;
  if (!frame) return 'nothing';
  const tiles = gridCells(4).map((cell) => readCell(frame, WIDTH, HEIGHT, cell).colour);
  if (tiles.join() === 'red,green,blue,black') return 'grid';
  return readCell(frame, WIDTH, HEIGHT, { x: 0, y: 0, w: 1, h: 1 }).colour;
}

/**
 * Waits for `expected` in the decoded output and returns how many frames were decoded after
 * the switch request was answered, up to and including the first one showing it. Everything
 * after the switch counts: the wait for the new source's next frame, the encoder, RTP, and
 * the receiver (GStreamer, which hands a frame on at its RTP marker bit).
 */
async function framesUntil(receiver: RtpReceiver, expected: string): Promise<number> {
  const start = receiver.frames;
  const deadline = Date.now() + 3_000;
  let checked = -1;
  while (Date.now() < deadline) {
    // Every decoded frame is looked at: polling faster than frames are decoded.
    if (receiver.frames !== checked) {
      checked = receiver.frames;
      if (whatIsShown(receiver) === expected) return receiver.frames - start;
    }
    await sleep(1);
  }
  throw new Error(`${expected} never appeared (showing ${whatIsShown(receiver)})`);
}

/** Plays every player into the switcher's two inputs: a composite of three and one alone. */
async function buildSources(
  pipeline: kurento.MediaPipeline,
  switcher: kurento.Hub,
): Promise<{
  fromComposite: kurento.HubPort;
  fromPlayer: kurento.HubPort;
  players: kurento.PlayerEndpoint[];
}> {
  const players: kurento.PlayerEndpoint[] = [];
  for (const clip of await clips())
    players.push(await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` }));
  // A fresh options object each time: kurento-client writes `mediaPipeline` into the object it
  // is given, so a shared one would carry the previous test's pipeline into this create.
  const composite = await pipeline.create('Composite', { ...COMPOSITE });
  for (const player of players.slice(0, 3)) await player.connect(await composite.createHubPort());
  const compositeOut = await composite.createHubPort();
  const fromComposite = await switcher.createHubPort();
  const fromPlayer = await switcher.createHubPort();
  await compositeOut.connect(fromComposite);
  const lone = players[3];
  assert.ok(lone);
  await lone.connect(fromPlayer);
  return { fromComposite, fromPlayer, players };
}

async function receive(
  pipeline: kurento.MediaPipeline,
  port: kurento.HubPort,
): Promise<RtpReceiver> {
  // GStreamer's depayloader hands each frame on at its RTP marker bit; ffmpeg's would hold
  // about two frames back and hide what the switch itself costs.
  const receiver = await RtpReceiver.create({
    video: true,
    audio: false,
    width: WIDTH,
    height: HEIGHT,
    decoder: 'gstreamer',
  });
  const rtp = await pipeline.create('RtpEndpoint');
  await port.connect(rtp);
  await receiver.start(await rtp.processOffer(receiver.offer));
  return receiver;
}

for (const kind of ['Dispatcher', 'DispatcherOneToMany'] as const) {
  test(`a ${kind} switches between a composite and a player ${SWITCHES} times, each cleanly`, async () => {
    const pipeline = await client.create('MediaPipeline');
    let receiver: RtpReceiver | undefined;
    try {
      const switcher = await pipeline.create(kind);
      const { fromComposite, fromPlayer, players } = await buildSources(pipeline, switcher);
      const program = await switcher.createHubPort();
      receiver = await receive(pipeline, program);
      for (const player of players) await player.play();

      const select = async (port: kurento.HubPort): Promise<void> => {
        if (kind === 'Dispatcher') await (switcher as kurento.Dispatcher).connect(port, program);
        else await (switcher as kurento.DispatcherOneToMany).setSource(port);
      };
      // The first source (the composite, 640x360) fixes the output size for good.
      await select(fromComposite);
      await receiver.waitForFrames(10, 15_000);
      await framesUntil(receiver, 'grid');

      const delays: number[] = [];
      for (let i = 0; i < SWITCHES; i++) {
        const toPlayer = i % 2 === 0;
        const expected = toPlayer ? 'yellow' : 'grid';
        await select(toPlayer ? fromPlayer : fromComposite);
        delays.push(await framesUntil(receiver, expected));
        const first = receiver.latest;
        // Stay a few frames on each picture: it keeps flowing, keeps moving, stays right.
        const frames = receiver.frames;
        await sleep(150);
        assert.ok(receiver.frames > frames, `output stalled after switch ${i}`);
        assert.equal(whatIsShown(receiver), expected, `switch ${i} did not hold`);
        assert.ok(first && !first.data.equals(receiver.latest?.data ?? first.data), `frozen ${i}`);
        if (toPlayer) {
          // 4:3 in a 16:9 output: pillarboxed in black, not stretched (output caps unchanged).
          const [left, right] = receiver.sample([
            [0.04, 0.2],
            [0.96, 0.2],
          ]);
          assert.equal(left && classify(left), 'black', `no letterbox at switch ${i}`);
          assert.equal(right && classify(right), 'black', `no letterbox at switch ${i}`);
        }
      }
      delays.sort((a, b) => a - b);
      const median = delays[Math.floor(delays.length / 2)] ?? 0;
      const worst = delays[delays.length - 1] ?? 0;
      process.stdout.write(
        `${kind}: frames to switch median ${median}, worst ${worst}; ` +
          `histogram ${JSON.stringify(histogram(delays))}\n`,
      );
      assert.ok(median <= 2, `median switch took ${median} frames`);
      assert.ok(worst <= 4, `worst switch took ${worst} frames`);
    } finally {
      await receiver?.stop();
      await pipeline.release();
    }
  });
}

function histogram(values: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Resolves once no frame has been decoded for `quietMs`; fails after `timeoutMs`. */
async function waitForSilence(
  receiver: RtpReceiver,
  quietMs: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let frames = receiver.frames;
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(20);
    if (receiver.frames !== frames) {
      frames = receiver.frames;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
  }
  throw new Error(`output never stopped (${receiver.frames} frames)`);
}

test('a DispatcherOneToMany feeds ports created after setSource, and removeSource detaches every output', async () => {
  const pipeline = await client.create('MediaPipeline');
  const receivers: RtpReceiver[] = [];
  try {
    const switcher = await pipeline.create('DispatcherOneToMany');
    const { fromPlayer, players } = await buildSources(pipeline, switcher);
    const early = await switcher.createHubPort();
    receivers.push(await receive(pipeline, early));
    for (const player of players) await player.play();
    await switcher.setSource(fromPlayer);

    // Created after setSource: gets the source too.
    const late = await switcher.createHubPort();
    receivers.push(await receive(pipeline, late));
    for (const receiver of receivers) {
      await receiver.waitForFrames(10, 15_000);
      await framesUntil(receiver, 'yellow');
    }

    await switcher.removeSource();
    for (const receiver of receivers) await waitForSilence(receiver, 1_000, 5_000);

    // A new source reaches every port again, keyframe first.
    const [earlyReceiver, lateReceiver] = receivers;
    assert.ok(earlyReceiver && lateReceiver);
    const before = [earlyReceiver.frames, lateReceiver.frames];
    await switcher.setSource(fromPlayer);
    await earlyReceiver.waitForFrames((before[0] ?? 0) + 10, 5_000);
    await lateReceiver.waitForFrames((before[1] ?? 0) + 10, 5_000);
    assert.equal(whatIsShown(earlyReceiver), 'yellow');
    assert.equal(whatIsShown(lateReceiver), 'yellow');

    // Releasing the source port detaches the outputs as removeSource does.
    await fromPlayer.release();
    for (const receiver of receivers) await waitForSilence(receiver, 1_000, 5_000);
  } finally {
    for (const receiver of receivers) await receiver.stop();
    await pipeline.release();
  }
});
