import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { classify, mediaDir, type PaletteName } from '../helpers/media.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { makeMovingBoxClip } from './hubHelpers.js';

/** The master's size, which becomes the output size, and the size the test decodes to. */
const WIDTH = 640;
const HEIGHT = 360;

let engine: EngineProcess;
let dir: string;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
});

after(async () => {
  await engine?.stop();
});

type Point = readonly [number, number];

/** Points of the master's picture that no corner overlay and no sweeping box ever covers. */
const MASTER_POINTS: Point[] = [
  [0.5, 0.1],
  [0.1, 0.5],
  [0.9, 0.5],
  [0.5, 0.9],
  [0.45, 0.25],
];

/** The upper part of the overlay's rectangle (its box sweeps along the middle row). */
function overlayPoints(x: number, y: number, w: number, h: number): Point[] {
  return [
    [x + w * 0.2, y + h * 0.2],
    [x + w * 0.5, y + h * 0.2],
    [x + w * 0.8, y + h * 0.2],
  ];
}

/** Waits until every point shows its colour (in one decoded frame); returns what was seen. */
async function waitForColours(
  receiver: RtpReceiver,
  expected: Array<{ point: Point; colour: PaletteName }>,
  timeoutMs: number,
): Promise<PaletteName[]> {
  const deadline = Date.now() + timeoutMs;
  let seen: PaletteName[] = [];
  while (Date.now() < deadline) {
    if (receiver.latest) {
      seen = receiver.sample(expected.map((e) => e.point)).map(classify);
      if (seen.every((colour, i) => colour === expected[i]?.colour)) return seen;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return seen;
}

test('AlphaBlending shows a spotlight: the master full frame, another port small in a corner that moves', async () => {
  const [masterClip, cornerClip] = await Promise.all([
    makeMovingBoxClip(path.join(dir, 'master-red.webm'), 'red', {
      seconds: 15,
      toneHz: 300,
      width: WIDTH,
      height: HEIGHT,
    }),
    makeMovingBoxClip(path.join(dir, 'corner-green.webm'), 'green', {
      seconds: 15,
      toneHz: 500,
      width: 320,
      height: 180,
    }),
  ]);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  let receiver: RtpReceiver | undefined;
  try {
    const hub = await pipeline.create('AlphaBlending');
    const master = await pipeline.create('PlayerEndpoint', { uri: `file://${masterClip}` });
    const corner = await pipeline.create('PlayerEndpoint', { uri: `file://${cornerClip}` });
    const masterPort = await hub.createHubPort();
    const cornerPort = await hub.createHubPort();
    await master.connect(masterPort);
    await corner.connect(cornerPort);
    await hub.setMaster(masterPort, 1);
    await hub.setPortProperties(0.7, 0.7, 2, 0.25, 0.25, cornerPort);
    const out = await hub.createHubPort();
    receiver = await RtpReceiver.create({
      video: true,
      audio: false,
      width: WIDTH,
      height: HEIGHT,
    });
    const rtp = await pipeline.create('RtpEndpoint');
    await out.connect(rtp);
    await receiver.start(await rtp.processOffer(receiver.offer));
    await master.play();
    await corner.play();
    await receiver.waitForFrames(10, 15_000);

    const bottomRight = overlayPoints(0.7, 0.7, 0.25, 0.25);
    const topLeft = overlayPoints(0.05, 0.05, 0.25, 0.25);
    const spotlight = (
      overlay: Point[],
      free: Point[],
    ): Array<{ point: Point; colour: PaletteName }> => [
      ...MASTER_POINTS.map((point) => ({ point, colour: 'red' as const })),
      ...free.map((point) => ({ point, colour: 'red' as const })),
      ...overlay.map((point) => ({ point, colour: 'green' as const })),
    ];

    const first = spotlight(bottomRight, topLeft);
    assert.deepEqual(
      await waitForColours(receiver, first, 15_000),
      first.map((e) => e.colour),
      'master full frame, green in the bottom-right corner',
    );

    // Moved to the top-left corner: the old corner shows the master again.
    await hub.setPortProperties(0.05, 0.05, 2, 0.25, 0.25, cornerPort);
    const moved = spotlight(topLeft, bottomRight);
    assert.deepEqual(
      await waitForColours(receiver, moved, 5_000),
      moved.map((e) => e.colour),
      'green moved to the top-left corner',
    );
  } finally {
    await receiver?.stop();
    await pipeline.release();
    client.close();
  }
});
