/**
 * The glass-to-glass benchmark's time stamp (stamp.ts): pictures of a stamp read back as the
 * same time, damaged pictures read as nothing rather than as a wrong time, and the in-page
 * camera and reader (stampPage.ts) agree through a real VP8 encode and decode in Chromium.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startWatchPage } from '../edge/helpers.js';
import { launchChromium } from '../helpers/browser.js';
import { stampCodec, type StampCodec } from './stamp.js';
import { pageScript, stampCamera, stampViewer } from './stampPage.js';

const codec = stampCodec();

/** A time in the middle of a working day, and one on each side of a 2^24 ms wrap. */
const NOW = Date.UTC(2026, 10, 21, 10, 30, 0, 123);
const WRAP = Math.ceil(NOW / 2 ** 24) * 2 ** 24;

/** Scales an RGBA picture down by averaging boxes, as a compositor scaling to a tile does. */
function downscale(rgba: Uint8ClampedArray, width: number, height: number, factor: number) {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        let sum = 0;
        let n = 0;
        for (let dy = 0; dy < factor; dy++) {
          for (let dx = 0; dx < factor; dx++) {
            sum += rgba[((y * factor + dy) * width + x * factor + dx) * 4 + c] ?? 0;
            n++;
          }
        }
        out[(y * w + x) * 4 + c] = sum / n;
      }
    }
  }
  return { rgba: out, width: w, height: h };
}

/** Squeezes contrast into [low, high] and adds deterministic noise of ±amplitude. */
function degrade(rgba: Uint8ClampedArray, low: number, high: number, amplitude: number) {
  const out = new Uint8ClampedArray(rgba.length);
  let seed = 12345;
  for (let i = 0; i < rgba.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const noise = ((seed % 1000) / 1000 - 0.5) * 2 * amplitude;
    out[i] = i % 4 === 3 ? 255 : low + ((rgba[i] ?? 0) / 255) * (high - low) + noise;
  }
  return out;
}

test('a stamp reads back as the same millisecond, full size and scaled into a small tile', () => {
  for (const ms of [NOW, NOW + 1, NOW + 33, WRAP - 1, WRAP, WRAP + 1, 0, 2 ** 24 - 1]) {
    const full = codec.rasterize(ms, 640, 360);
    assert.equal(codec.read(full, 640, 360, ms), ms, `640x360 at ${ms}`);
    // A 3 x 3 grid of a 1280x720 composite scales a 640x360 camera by two thirds; this is worse.
    const tile = downscale(full, 640, 360, 3);
    assert.equal(codec.read(tile.rgba, tile.width, tile.height, ms + 150), ms, `tile at ${ms}`);
  }
});

test('a stamp survives lost contrast and coding noise', () => {
  const ms = NOW + 777;
  const picture = degrade(codec.rasterize(ms, 640, 360), 60, 180, 25);
  assert.equal(codec.read(picture, 640, 360, ms + 40), ms);
});

test('a damaged stamp or a picture without one reads as nothing, never as a wrong time', () => {
  const ms = NOW + 4242;
  const levels = codec.levels(codec.rasterize(ms, 640, 360), 640, 360);
  // Every single flipped data cell is caught by the CRC.
  const dataCells = levels
    .map((_, index) => index)
    .filter((index) => ![0, 1, codec.cols - 2, codec.cols - 1].includes(index % codec.cols));
  assert.equal(dataCells.length, 40);
  for (const index of dataCells) {
    const damaged = [...levels];
    damaged[index] = 255 - (damaged[index] ?? 0);
    assert.equal(codec.decode(damaged), undefined, `cell ${index} flipped`);
  }
  // A flat grey picture (a frame before the camera's first), and the negative of a stamp.
  const grey = new Uint8ClampedArray(640 * 360 * 4).fill(128);
  assert.equal(codec.read(grey, 640, 360, ms), undefined);
  assert.equal(codec.decode(levels.map((level) => 255 - level)), undefined);
  assert.equal(codec.decode(levels.slice(1)), undefined);
});

test('a stamp read a little before it was written unwraps to a small negative latency', () => {
  const stamp = WRAP % 2 ** 24;
  assert.equal(codec.unwrap(stamp, WRAP - 3), WRAP);
  assert.equal(codec.unwrap(stamp, WRAP + 60_000), WRAP);
  assert.equal(codec.unwrap((NOW - 5) % 2 ** 24, NOW), NOW - 5);
});

test('in Chromium, the camera canvas reads back after JPEG at a third of its size and after VP8 over WebRTC', async () => {
  const page = await startWatchPage();
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    await context.addInitScript({
      content: pageScript(stampCamera, { width: 640, height: 360, fps: 30 }),
    });
    await context.addInitScript({
      content: pageScript(stampViewer, {
        region: { x: 0, y: 0, w: 1, h: 1 },
        reading: true,
        readWidth: 640,
      }),
    });
    // The codec itself, for the JPEG check below.
    await context.addInitScript({
      content: pageScript((c: StampCodec) => {
        (window as unknown as { stampCodec: StampCodec }).stampCodec = c;
      }, null),
    });
    const tab = await context.newPage();
    await tab.goto(page.url);

    const jpeg = await tab.evaluate(async () => {
      const c = (window as unknown as { stampCodec: StampCodec }).stampCodec;
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const context2d = canvas.getContext('2d');
      if (context2d === null) throw new Error('no canvas');
      const ms = Date.now();
      context2d.fillStyle = '#808080';
      context2d.fillRect(0, 0, 640, 360);
      c.cells(ms).forEach((value, i) => {
        const r = c.cellRect(i, 640, 360);
        context2d.fillStyle = value === 1 ? '#fff' : '#000';
        context2d.fillRect(r.x, r.y, r.w, r.h);
      });
      const image = new Image();
      image.src = canvas.toDataURL('image/jpeg', 0.2);
      await image.decode();
      const small = document.createElement('canvas');
      small.width = 213;
      small.height = 120;
      const smallContext = small.getContext('2d');
      if (smallContext === null) throw new Error('no canvas');
      smallContext.drawImage(image, 0, 0, 213, 120);
      return { ms, read: c.read(smallContext.getImageData(0, 0, 213, 120).data, 213, 120, ms) };
    });
    assert.equal(jpeg.read, jpeg.ms);

    // The camera's track through a VP8 encoder and decoder (a loopback connection in the
    // page) into the page's <video>, where the reader reads every presented frame.
    await tab.evaluate(async () => {
      const source = window.stampCamera;
      const video = document.querySelector('video');
      if (source === undefined || video === null) throw new Error('page not ready');
      const sender = new RTCPeerConnection();
      const receiver = new RTCPeerConnection();
      sender.addEventListener('icecandidate', (e) => void receiver.addIceCandidate(e.candidate));
      receiver.addEventListener('icecandidate', (e) => void sender.addIceCandidate(e.candidate));
      receiver.addEventListener('track', (event) => {
        video.srcObject = new MediaStream([event.track]);
        void video.play();
      });
      sender.addTransceiver(source.videoTrack(), { direction: 'sendonly' });
      await sender.setLocalDescription();
      await receiver.setRemoteDescription(sender.localDescription ?? { type: 'offer' });
      await receiver.setLocalDescription();
      await sender.setRemoteDescription(receiver.localDescription ?? { type: 'answer' });
    });
    await tab.waitForFunction(() => (window.stampViewer?.samples.length ?? 0) >= 30, null, {
      timeout: 30_000,
    });
    const probe = await tab.evaluate(() => window.stampViewer);
    assert.ok(probe !== undefined);
    const latencies = probe.samples.map(([stamp, shownAt]) => shownAt - stamp);
    // Encode, decode and display in one page take tens of milliseconds, never seconds; a wrong
    // read would land anywhere in 4.66 hours.
    for (const latency of latencies) assert.ok(latency > -5 && latency < 2_000, `${latency} ms`);
    assert.ok(
      probe.unreadable <= probe.samples.length / 4,
      `${probe.unreadable} unreadable frames, ${probe.samples.length} read`,
    );
  } finally {
    await browser.close();
    await page.close();
  }
});
