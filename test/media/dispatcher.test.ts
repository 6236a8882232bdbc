import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { mediaDir, type PaletteName } from '../helpers/media.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { gridCells, makeMovingBoxClip, readCell } from './hubHelpers.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- kurento-client objects are untyped */

const WIDTH = 320;
const HEIGHT = 180;
const SWITCHES = 100;

let engine: EngineProcess;
let dir: string;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
});

after(async () => {
  await engine?.stop();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
 * Waits for `expected` in the decoded output and returns how many frames were decoded
 * after the switch request was answered before it appeared.
 */
async function framesUntil(receiver: RtpReceiver, expected: string): Promise<number> {
  const start = receiver.frames;
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    if (whatIsShown(receiver) === expected) return receiver.frames - start;
    await sleep(2);
  }
  throw new Error(`${expected} never appeared (showing ${whatIsShown(receiver)})`);
}

for (const kind of ['Dispatcher', 'DispatcherOneToMany'] as const) {
  test(`a ${kind} switches between a composite and a player ${SWITCHES} times, each cleanly`, async () => {
    const colours: PaletteName[] = ['red', 'green', 'blue', 'yellow'];
    const clips = await Promise.all(
      colours.map((c, i) =>
        makeMovingBoxClip(path.join(dir, `${kind}-${c}.webm`), c, {
          seconds: 40,
          toneHz: 300 + 200 * i,
        }),
      ),
    );
    const client = await connectKurento(engine.url);
    const pipeline: any = await client.create('MediaPipeline');
    let receiver: RtpReceiver | undefined;
    try {
      const players: any[] = [];
      for (const clip of clips)
        players.push(await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` }));
      const composite: any = await pipeline.create('Composite', { width: 640, height: 360 });
      for (const player of players.slice(0, 3))
        await player.connect(await composite.createHubPort());
      const compositeOut = await composite.createHubPort();

      const switcher: any = await pipeline.create(kind);
      const fromComposite = await switcher.createHubPort();
      const fromPlayer = await switcher.createHubPort();
      await compositeOut.connect(fromComposite);
      await players[3].connect(fromPlayer);
      const program = await switcher.createHubPort();

      receiver = await RtpReceiver.create({
        video: true,
        audio: false,
        width: WIDTH,
        height: HEIGHT,
      });
      const rtp = await pipeline.create('RtpEndpoint');
      await program.connect(rtp);
      await receiver.start(await rtp.processOffer(receiver.offer));
      for (const player of players) await player.play();

      const select = async (port: any): Promise<void> => {
        if (kind === 'Dispatcher') await switcher.connect(port, program);
        else await switcher.setSource(port);
      };
      await select(fromComposite);
      await receiver.waitForFrames(10, 15_000);
      await framesUntil(receiver, 'grid');

      const delays: number[] = [];
      for (let i = 0; i < SWITCHES; i++) {
        const toPlayer = i % 2 === 0;
        await select(toPlayer ? fromPlayer : fromComposite);
        delays.push(await framesUntil(receiver, toPlayer ? 'yellow' : 'grid'));
        // Stay a few frames on each picture, checking it keeps flowing.
        const frames = receiver.frames;
        await sleep(150);
        assert.ok(receiver.frames > frames, `output stalled after switch ${i}`);
      }
      delays.sort((a, b) => a - b);
      const median = delays[Math.floor(delays.length / 2)] ?? 0;
      const worst = delays[delays.length - 1] ?? 0;
      process.stdout.write(`${kind}: frames to switch median ${median}, worst ${worst}\n`);
      assert.ok(median <= 2, `median switch took ${median} frames`);
      assert.ok(worst <= 4, `worst switch took ${worst} frames`);
    } finally {
      await receiver?.stop();
      await pipeline.release();
      client.close();
    }
  });
}
