import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import QRCode from 'qrcode';
import type kurento from 'kurento-client';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import {
  classify,
  makeQuadrantClip,
  mediaDir,
  type PaletteName,
  type Quadrants,
} from '../helpers/media.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { RawClient } from '../kms/helpers.js';

const run = promisify(execFile);

/** The filters module's API as kurento-client 7.2.0 builds it (@types/kurento-client lacks it). */
interface GStreamerFilter extends kurento.MediaElement {
  getCommand(): Promise<string>;
  setElementProperty(propertyName: string, propertyValue: string): Promise<void>;
}
interface ImageOverlayFilter extends kurento.MediaElement {
  removeImage(id: string): Promise<void>;
}
interface FaceOverlayFilter extends kurento.MediaElement {
  setOverlayedImage(
    uri: string,
    offsetXPercent: number,
    offsetYPercent: number,
    widthPercent: number,
    heightPercent: number,
  ): Promise<void>;
  unsetOverlayedImage(): Promise<void>;
}

/** pipeline.create for the filters module's types, which the typings do not list. */
async function createFilter<T extends kurento.MediaElement>(
  pipeline: kurento.MediaPipeline,
  type: 'GStreamerFilter' | 'ImageOverlayFilter' | 'ZBarFilter' | 'FaceOverlayFilter',
  params: Record<string, unknown> = {},
): Promise<T> {
  const create = pipeline.create.bind(pipeline) as unknown as (
    type: string,
    params: Record<string, unknown>,
  ) => Promise<T>;
  return create(type, params);
}

let engine: EngineProcess;
let dir: string;
let clip: string;
const QUADRANTS: Quadrants = ['red', 'green', 'blue', 'yellow'];
const TONE_HZ = 440;

before(async () => {
  dir = await mediaDir();
  // Images and clips are read from the test's folder only: the URI policy applies to overlays.
  engine = await startEngineProcess({ KMS_FILE_ROOTS: dir });
  clip = await makeQuadrantClip(path.join(dir, 'clip.webm'), QUADRANTS, {
    seconds: 30,
    container: 'webm',
    toneHz: TONE_HZ,
  });
});

after(async () => {
  await engine?.stop();
});

/** A solid-colour PNG of width × height made by ffmpeg. */
async function solidPng(name: string, colour: string, width: number, height: number) {
  const file = path.join(dir, name);
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=${colour}:s=${width}x${height}`,
    '-frames:v',
    '1',
    file,
  ]);
  return file;
}

/**
 * Waits until the receiver's latest frame shows `expected` at `points`; the bound is generous
 * because the machine is shared, and the last colours seen are in the failure message.
 */
async function waitForColours(
  receiver: RtpReceiver,
  points: ReadonlyArray<readonly [number, number]>,
  expected: PaletteName[],
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: PaletteName[] = [];
  while (Date.now() < deadline) {
    if (receiver.latest) {
      seen = receiver.sample(points).map(classify);
      if (seen.join() === expected.join()) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(seen, expected, what);
}

/** Waits until `check()` holds; the failure message is built when the bound runs out. */
async function until(check: () => boolean, timeoutMs: number, why: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(why());
}

/** player → filter → RtpEndpoint → ffmpeg, the player playing `uri`. */
async function throughFilter(
  pipeline: kurento.MediaPipeline,
  filter: kurento.MediaElement,
  receiver: RtpReceiver,
  uri = `file://${clip}`,
): Promise<kurento.PlayerEndpoint> {
  const player = await pipeline.create('PlayerEndpoint', { uri });
  const rtp = await pipeline.create('RtpEndpoint');
  await player.connect(filter);
  await filter.connect(rtp);
  await receiver.start(await rtp.processOffer(receiver.offer));
  await player.play();
  await receiver.waitForFrames(5, 20_000);
  return player;
}

// videoflip's older `method` property has no effect in GStreamer 1.22 (it is deprecated in favour
// of `video-direction`), so the test uses the property that works there.
test('GStreamerFilter videoflip mirrors the picture, and setElementProperty changes it live', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240 });
  try {
    const filter = await createFilter<GStreamerFilter>(pipeline, 'GStreamerFilter', {
      command: 'videoflip video-direction=horiz',
    });
    assert.equal(await filter.getCommand(), 'videoflip video-direction=horiz');
    await throughFilter(pipeline, filter, receiver);
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['green', 'red', 'yellow', 'blue'],
      'left and right are swapped',
    );
    await filter.setElementProperty('video-direction', 'vert');
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['blue', 'yellow', 'red', 'green'],
      'top and bottom are swapped after setElementProperty',
    );
    // The audio is not the filter's media: it passes through with its tone.
    await receiver.waitForAudio(1_500, 15_000);
    const [tone] = receiver.toneLevels([TONE_HZ], 500);
    assert.ok((tone ?? 0) > 0.05, `the tone passes a video filter (level ${tone})`);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('GStreamerFilter with filterType AUDIO filters the sound and passes the picture', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240 });
  try {
    const filter = await createFilter<GStreamerFilter>(pipeline, 'GStreamerFilter', {
      command: 'volume volume=1.0',
      filterType: 'AUDIO',
    });
    await throughFilter(pipeline, filter, receiver);
    await waitForColours(receiver, QUADRANT_CENTRES, [...QUADRANTS], 'the picture is untouched');
    await receiver.waitForAudio(1_500, 15_000);
    const [before] = receiver.toneLevels([TONE_HZ], 500);
    assert.ok((before ?? 0) > 0.05, `the tone passes at volume 1 (level ${before})`);
    await filter.setElementProperty('volume', '0');
    const deadline = Date.now() + 15_000;
    let level = before ?? 1;
    while (Date.now() < deadline && level > 0.005) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      level = receiver.toneLevels([TONE_HZ], 300)[0] ?? 1;
    }
    assert.ok(level <= 0.005, `the tone is silenced by volume=0 (level ${level})`);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('ImageOverlayFilter draws images where addImage puts them, and removeImage takes them away', async () => {
  const magenta = await solidPng('magenta.png', 'magenta', 64, 64);
  // A wide white band: with keepAspectRatio and center it fills the box's width only.
  const band = await solidPng('band.png', 'white', 256, 64);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240 });
  try {
    const filter = await createFilter<ImageOverlayFilter>(pipeline, 'ImageOverlayFilter');
    await throughFilter(pipeline, filter, receiver);
    await waitForColours(receiver, QUADRANT_CENTRES, [...QUADRANTS], 'no image yet');
    // kurento-client 7.2.0 cannot send addImage (its params object has an `id`, which the
    // client sends alone; Kurento gets the same), so addImage goes as raw JSON-RPC, exactly as
    // a fixed client would send it.
    const raw = await RawClient.open(engine.url);
    const addImage = (args: unknown[]) =>
      raw.ok('invoke', {
        object: filter.id,
        operation: 'addImage',
        operationParams: {
          id: args[0],
          uri: args[1],
          offsetXPercent: args[2],
          offsetYPercent: args[3],
          widthPercent: args[4],
          heightPercent: args[5],
          keepAspectRatio: args[6],
          center: args[7],
        },
      });
    await addImage(['square', `file://${magenta}`, 0.5, 0.5, 0.5, 0.5, false, false]);
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['red', 'green', 'blue', 'magenta'],
      'the square covers the bottom-right quadrant',
    );
    await addImage(['band', `file://${band}`, 0, 0, 0.5, 0.5, true, true]);
    // Box 0..0.5 × 0..0.5; a 4:1 band fitted to its width is 0.125 high, centred at y 0.25.
    await waitForColours(
      receiver,
      [
        [0.25, 0.25],
        [0.25, 0.05],
        [0.25, 0.45],
        [0.75, 0.75],
      ],
      ['white', 'red', 'red', 'magenta'],
      'the band keeps its shape and sits in the middle of its box',
    );
    await filter.removeImage('square');
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['white', 'green', 'blue', 'yellow'],
      'the square is gone, the band stays',
    );
    await raw.close();
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

/** A clip showing QR codes for `texts` in turn, `seconds` each, made from qrcode PNGs. */
async function qrClip(texts: string[], seconds: number): Promise<string> {
  const inputs: string[] = [];
  for (const [i, text] of texts.entries()) {
    const png = path.join(dir, `qr-${i}.png`);
    await QRCode.toFile(png, text, { width: 240, margin: 4 });
    inputs.push('-loop', '1', '-t', String(seconds), '-framerate', '30', '-i', png);
  }
  const file = path.join(dir, `qr-${texts.length}.webm`);
  const streams = texts.map((_, i) => `[${i}:v]scale=320:240,setsar=1,format=yuv420p[v${i}]`);
  const concat = `${texts.map((_, i) => `[v${i}]`).join('')}concat=n=${texts.length}:v=1:a=0[v]`;
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    ...inputs,
    '-filter_complex',
    `${streams.join(';')};${concat}`,
    '-map',
    '[v]',
    '-c:v',
    'libvpx',
    '-deadline',
    'realtime',
    '-b:v',
    '1M',
    '-g',
    '30',
    file,
  ]);
  return file;
}

test('ZBarFilter raises CodeFound with the text of the QR code it sees, once per change or second', async () => {
  const texts = ['https://montage.example/assembly/42', 'second code: hello'];
  const qr = await qrClip(texts, 3);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const filter = await createFilter(pipeline, 'ZBarFilter');
    const found: Array<{ codeType: string; value: string; at: number }> = [];
    filter.on('CodeFound', (event: { codeType: string; value: string }) =>
      found.push({ codeType: event.codeType, value: event.value, at: Date.now() }),
    );
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${qr}` });
    const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
    await player.connect(filter);
    const started = Date.now();
    await player.play();
    await Promise.race([
      ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no EndOfStream')), 60_000)),
    ]);
    // Events travel after the frames; give the last ones a moment to arrive.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const values = found.map((f) => f.value);
    assert.deepEqual([...new Set(values)], texts, `both codes in order (${values.join(' | ')})`);
    assert.ok(
      found.every((f) => f.codeType === 'QR-Code'),
      `codeType is zbar's QR-Code (${found.map((f) => f.codeType).join()})`,
    );
    // 6 s of codes at 30 fps is 180 frames; Kurento's rule allows about one event a second.
    assert.ok(found.length >= 2 && found.length <= 10, `${found.length} events for 6 s of codes`);
    assert.ok(found[0] !== undefined && found[0].at - started < 20_000);
  } finally {
    await pipeline.release();
    client.close();
  }
});

/**
 * A synthetic grey face, 320x240, as a binary PGM: a front-lit oval with eyebrows, shadowed eye
 * sockets, a bright nose bridge, nostrils and a mouth, softened by a blur. OpenCV's frontal-face
 * Haar cascade (haarcascade_frontalface_default) finds it at about (78, 37) 166x166; no photo
 * is needed, so nothing is downloaded.
 */
function facePgm(): Buffer {
  const W = 320;
  const H = 240;
  let img = new Float64Array(W * H).fill(60);
  const cx = W / 2;
  const cy = H / 2 + 5;
  const paint = (ax: number, ay: number, rx: number, ry: number, value: number) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (((x - ax) / rx) ** 2 + ((y - ay) / ry) ** 2 <= 1) img[y * W + x] = value;
      }
    }
  };
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = ((x - cx) / 62) ** 2 + ((y - cy) / 80) ** 2;
      if (d <= 1) img[y * W + x] = 200 - 50 * d;
    }
  }
  for (const side of [-1, 1]) {
    paint(cx + side * 27, cy - 38, 17, 4, 50);
    paint(cx + side * 27, cy - 22, 16, 9, 110);
    paint(cx + side * 27, cy - 22, 10, 5, 40);
    paint(cx + side * 27, cy - 22, 4, 4, 15);
  }
  paint(cx, cy - 5, 7, 22, 215);
  for (const side of [-1, 1]) paint(cx + side * 7, cy + 17, 4, 3, 60);
  paint(cx, cy + 40, 22, 5, 70);
  paint(cx, cy + 46, 16, 4, 150);
  // Three passes of a 5-pixel box blur, horizontally then vertically (close to a Gaussian).
  const r = 2;
  for (let pass = 0; pass < 3; pass++) {
    for (const horizontal of [true, false]) {
      const out = new Float64Array(W * H);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let sum = 0;
          for (let k = -r; k <= r; k++) {
            const xx = horizontal ? Math.min(W - 1, Math.max(0, x + k)) : x;
            const yy = horizontal ? y : Math.min(H - 1, Math.max(0, y + k));
            sum += img[yy * W + xx] ?? 0;
          }
          out[y * W + x] = sum / (2 * r + 1);
        }
      }
      img = out;
    }
  }
  const header = Buffer.from(`P5 ${W} ${H} 255\n`);
  return Buffer.concat([header, Buffer.from(Uint8Array.from(img, (v) => Math.round(v)))]);
}

test('FaceOverlayFilter finds the face in the video and draws the image over it, placed by its size', async () => {
  const pgm = path.join(dir, 'face.pgm');
  await writeFile(pgm, facePgm());
  const faceClip = path.join(dir, 'face.webm');
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-loop',
    '1',
    '-framerate',
    '30',
    '-t',
    '30',
    '-i',
    pgm,
    '-vf',
    'format=yuv420p',
    '-c:v',
    'libvpx',
    '-deadline',
    'realtime',
    '-b:v',
    '1M',
    '-g',
    '30',
    faceClip,
  ]);
  const magenta = await solidPng('face.png', 'magenta', 32, 32);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240, audio: false });
  // The face spans about x 0.24..0.76 and y 0.15..0.85 of the picture.
  const points: Array<readonly [number, number]> = [
    [0.4, 0.3], // inside the face's top-left quarter
    [0.6, 0.3], // inside the face's top-right quarter
    [0.65, 0.75], // inside the face, bottom right
    [0.05, 0.05], // background
  ];
  const isMagenta = () => receiver.sample(points).map((p) => classify(p) === 'magenta');
  try {
    const filter = await createFilter<FaceOverlayFilter>(pipeline, 'FaceOverlayFilter');
    await filter.setOverlayedImage(`file://${magenta}`, 0, 0, 1, 1);
    await throughFilter(pipeline, filter, receiver, `file://${faceClip}`);
    await until(
      () => isMagenta().join() === 'true,true,true,false',
      20_000,
      () => `the image covers the face only (magenta at ${isMagenta().join()})`,
    );
    // Half the face's width and height from its corner: the top-left quarter only.
    await filter.setOverlayedImage(`file://${magenta}`, 0, 0, 0.5, 0.5);
    await until(
      () => isMagenta().join() === 'true,false,false,false',
      15_000,
      () => `the image covers the face's top-left quarter (magenta at ${isMagenta().join()})`,
    );
    // Offsets are ratios of the face's size too: half its width to the right.
    await filter.setOverlayedImage(`file://${magenta}`, 0.5, 0, 0.5, 0.5);
    await until(
      () => isMagenta().join() === 'false,true,false,false',
      15_000,
      () => `the image moved to the face's top-right quarter (magenta at ${isMagenta().join()})`,
    );
    await filter.unsetOverlayedImage();
    await until(
      () => isMagenta().join() === 'false,false,false,false',
      15_000,
      () => `the image is gone (magenta at ${isMagenta().join()})`,
    );
    // kurento-client-filters' methods only report an error to a callback (without one they
    // print it and resolve), so the refusal is read from the callback.
    const refusal = await new Promise<Error | undefined>((resolve) => {
      const setImage = filter.setOverlayedImage.bind(filter) as unknown as (
        ...args: unknown[]
      ) => void;
      setImage(`file://${dir}/missing.png`, 0, 0, 1, 1, (error: Error | undefined) =>
        resolve(error),
      );
    });
    assert.match(String(refusal?.message), /cannot read image .*missing\.png/);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('FaceOverlayFilter leaves a picture without faces as it was', async () => {
  const magenta = await solidPng('face-none.png', 'magenta', 32, 32);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240, audio: false });
  try {
    const filter = await createFilter<FaceOverlayFilter>(pipeline, 'FaceOverlayFilter');
    await filter.setOverlayedImage(`file://${magenta}`, 0, 0, 1, 1);
    await throughFilter(pipeline, filter, receiver);
    await receiver.waitForFrames(60, 20_000);
    await waitForColours(receiver, QUADRANT_CENTRES, [...QUADRANTS], 'no face, no overlay');
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('filters chain, and releasing one while media flows leaves the rest of the pipeline playing', async () => {
  const square = await solidPng('chain.png', 'cyan', 64, 64);
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240, audio: false });
  try {
    const flip = await createFilter<GStreamerFilter>(pipeline, 'GStreamerFilter', {
      command: 'videoflip video-direction=horiz',
    });
    const overlay = await createFilter<ImageOverlayFilter>(pipeline, 'ImageOverlayFilter');
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const rtp = await pipeline.create('RtpEndpoint');
    await player.connect(flip);
    await flip.connect(overlay);
    await overlay.connect(rtp);
    const raw = await RawClient.open(engine.url);
    await raw.ok('invoke', {
      object: overlay.id,
      operation: 'addImage',
      operationParams: {
        id: 'corner',
        uri: `file://${square}`,
        offsetXPercent: 0,
        offsetYPercent: 0,
        widthPercent: 0.5,
        heightPercent: 0.5,
        keepAspectRatio: false,
        center: false,
      },
    });
    await raw.close();
    await receiver.start(await rtp.processOffer(receiver.offer));
    await player.play();
    await receiver.waitForFrames(5, 20_000);
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['cyan', 'red', 'yellow', 'blue'],
      'flipped, then the image drawn over the flipped picture',
    );
    await overlay.release();
    await flip.connect(rtp);
    await waitForColours(
      receiver,
      QUADRANT_CENTRES,
      ['green', 'red', 'yellow', 'blue'],
      'the flipped picture alone once the overlay is released',
    );
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});
