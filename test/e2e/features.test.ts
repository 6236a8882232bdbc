/**
 * The assembly features a moderator and the cameras rely on, proven with real media: the
 * engine supervised by the app (as `npm start` runs it), the app server driving it through
 * kurento-client, Chromium cameras with distinct fake pictures (a flat colour with a white box
 * sweeping once a second) and the presenter's WebRTC program monitor, whose picture and audio
 * are sampled in Chromium. Every check waits for a condition with a deadline.
 *
 * All tests share one stack to keep the file short; each uses an assembly of its own and closes
 * its pages. The last test kills the engine, so it runs last.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { renditionStream } from '../../server/hls/renditions.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { makeQuadrantClip, type PaletteName } from '../helpers/media.js';
import {
  colourPoint,
  connectPage,
  decodeFrames,
  FULL,
  gridTiles,
  makeCameraVideo,
  PIP_INSET,
  PIP_MAIN_POINT,
  probeStreams,
  supervisedEnginePid,
  type Point,
  until,
  welcomed,
} from './drivers.js';
import { Scene } from './Scene.js';
import { call, mintLink, mintToken, setup, type Stack } from './stack.js';

const COLOURS: readonly PaletteName[] = ['red', 'green', 'blue'];

/** Generous: the machine has two cores shared with other test runs. */
const PICTURE_MS = 45_000;
/** Mean audio power (getStats energy per second) of the fake microphone's beeps, and of none. */
const AUDIBLE = 0.02;
const SILENT = 0.002;

let stack: Stack;
let mediaFolder: string;
/** One Chromium per camera colour (its fake camera plays that colour), one for monitors. */
const cameraBrowsers = new Map<PaletteName, Browser>();
let monitorBrowser: Browser;
/**
 * The allow-listed video server (on loopback): /missing.mp4 answers 404, /cut-short.mp4 sends
 * the first part of a clip and then breaks the connection, as a failing origin would.
 */
let videoServer: Server;
let videoBase: string;
/** The clip /cut-short.mp4 sends part of (a yellow clip, its index at the front). */
let cutShortClip: Buffer | undefined;

/** A new assembly of this file's stack and browsers. */
function openScene(name: string): Promise<Scene> {
  return Scene.open({ stack, cameraBrowsers, monitorBrowser }, name);
}

before(async () => {
  mediaFolder = await mkdtemp(path.join(tmpdir(), 'montage-features-'));
  videoServer = createServer((request, response) => {
    if (request.url === '/cut-short.mp4' && cutShortClip !== undefined && !request.headers.range) {
      // About two fifths of the clip (3 s of it), then the connection breaks a while later;
      // the player's retry (a range request) gets a 503.
      const clip = cutShortClip;
      response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length });
      response.write(clip.subarray(0, Math.floor(clip.length * 0.4)));
      setTimeout(() => response.destroy(), 6000);
      return;
    }
    response.writeHead(request.url === '/cut-short.mp4' ? 503 : 404).end();
  });
  await new Promise<void>((resolve) => videoServer.listen(0, '127.0.0.1', resolve));
  videoBase = `http://127.0.0.1:${(videoServer.address() as AddressInfo).port}/`;
  const [videos, started] = await Promise.all([
    Promise.all(COLOURS.map((colour) => makeCameraVideo(mediaFolder, colour))),
    setup(
      'embedded',
      { MONTAGE_VIDEO_URL_ALLOWLIST: videoBase },
      { KMS_PLAYER_ALLOWED_HOSTS: '127.0.0.1' },
    ),
  ]);
  stack = started;
  for (const [i, colour] of COLOURS.entries()) {
    cameraBrowsers.set(colour, await launchChromium({ fakeVideoFile: videos[i] ?? '' }));
  }
  monitorBrowser = await launchChromium();
});

after(async () => {
  for (const browser of cameraBrowsers.values()) await browser.close().catch(() => undefined);
  await monitorBrowser?.close().catch(() => undefined);
  await stack?.teardown();
  videoServer?.close();
  await rm(mediaFolder, { recursive: true, force: true });
});

/** The colour points of the quadrants: all four show the camera of a full-frame picture. */
const QUADRANT_POINTS = gridTiles(4).map(colourPoint);

/** One colour in all four quadrants: a full-frame picture of that camera (or clip). */
function all(colour: PaletteName): [PaletteName, PaletteName, PaletteName, PaletteName] {
  return [colour, colour, colour, colour];
}

test('the moderator lays the program out as a grid, a spotlight or picture-in-picture, of chosen cameras in a chosen order, up to a number of tiles', async () => {
  const scene = await openScene('Layouts');
  try {
    const [red, green, blue] = [
      await scene.join('red'),
      await scene.join('green'),
      await scene.join('blue'),
    ];
    const program = await scene.openMonitor();
    const ids = { red: red.cameraId, green: green.cameraId, blue: blue.cameraId };

    // The default grid: three tiles in join order, the fourth cell empty, every tile moving.
    const grid3 = gridTiles(4);
    await program.waitForColours(
      grid3.map(colourPoint),
      ['red', 'green', 'blue', 'black'],
      PICTURE_MS,
      'grid of three',
    );
    await program.waitMoving(grid3.slice(0, 3), 15_000, 'grid of three');

    // Spotlight shows the first camera full frame; with a chosen camera, that one.
    await scene.layout({ layout: 'spotlight' });
    await program.waitForColours(
      QUADRANT_POINTS,
      ['red', 'red', 'red', 'red'],
      PICTURE_MS,
      'spotlight on the first camera',
    );
    await scene.layout({ layout: 'spotlight', cameras: [ids.blue] });
    await program.waitForColours(
      QUADRANT_POINTS,
      ['blue', 'blue', 'blue', 'blue'],
      PICTURE_MS,
      'spotlight on the chosen camera',
    );
    await program.waitMoving([FULL], 15_000, 'spotlight');

    // Picture-in-picture: the first chosen camera full frame, the second in the inset.
    await scene.layout({ layout: 'pip', cameras: [ids.green, ids.red] });
    await program.waitForColours(
      [PIP_MAIN_POINT, colourPoint(PIP_INSET)],
      ['green', 'red'],
      PICTURE_MS,
      'picture-in-picture of green with red inset',
    );
    await program.waitMoving([FULL, PIP_INSET], 15_000, 'picture-in-picture');

    // A grid of a chosen subset, in the chosen order, and then the same two the other way round.
    const grid2 = gridTiles(2);
    await scene.layout({ layout: 'grid', cameras: [ids.blue, ids.red] });
    await program.waitForColours(
      grid2.map(colourPoint),
      ['blue', 'red'],
      PICTURE_MS,
      'grid of blue and red',
    );
    await scene.layout({ layout: 'grid', cameras: [ids.red, ids.blue] });
    await program.waitForColours(
      grid2.map(colourPoint),
      ['red', 'blue'],
      PICTURE_MS,
      'grid of red and blue, reordered',
    );

    // Back to every camera, limited to two tiles: the first two to join.
    const limited = await scene.layout({ layout: 'grid', maxTiles: 2, cameras: null });
    assert.equal(limited.maxTiles, 2);
    await program.waitForColours(
      grid2.map(colourPoint),
      ['red', 'green'],
      PICTURE_MS,
      'grid limited to two tiles',
    );
    await scene.layout({ layout: 'grid', maxTiles: 9 });
    await program.waitForColours(
      grid3.map(colourPoint),
      ['red', 'green', 'blue', 'black'],
      PICTURE_MS,
      'grid of three again',
    );

    // A camera that is not in the assembly cannot be chosen.
    await assert.rejects(
      scene.layout({ layout: 'grid', cameras: ['cam-nobody'] }),
      /cam-nobody' is not connected/,
    );
  } finally {
    await scene.close();
  }
});

/** Reports how long each step took (as test diagnostics), so a slow run shows where. */
function stopwatch(t: TestContext): (step: string) => void {
  let last = Date.now();
  return (step) => {
    const now = Date.now();
    t.diagnostic(`${step}: ${now - last} ms`);
    last = now;
  };
}

/** A fresh camera key, as the camera page makes one for its tab. */
function newCameraKey(): string {
  return randomBytes(18).toString('base64url');
}

test('a camera the moderator mutes leaves the program audio, stays muted when its page reloads, and is heard again when unmuted', async () => {
  const scene = await openScene('Mute');
  try {
    const camera = await scene.join('red', newCameraKey());
    const program = await scene.openMonitor();
    await program.waitForColours(
      QUADRANT_POINTS,
      ['red', 'red', 'red', 'red'],
      PICTURE_MS,
      'the camera',
    );
    await program.playAudio();
    // Chromium's fake microphone beeps several times a second; the mix of one camera is its
    // beep. Power is measured over windows long enough to hold several beeps.
    const heard = (what: string): Promise<number> =>
      until(
        20_000,
        async () => {
          const power = await program.audioPower(1500);
          return power > AUDIBLE ? power : undefined;
        },
        () => `${what}: the program audio stayed silent`,
        0,
      );
    const silent = (what: string): Promise<number> =>
      until(
        20_000,
        async () => {
          const power = await program.audioPower(1500);
          return power < SILENT ? power : undefined;
        },
        () => `${what}: the program audio was still heard`,
        0,
      );
    const mute = (muted: boolean): Promise<void> => scene.mute(camera.cameraId, muted);

    await heard('before muting');
    await mute(true);
    await silent('muted');
    // The picture stays on the program while the sound is gone.
    await program.waitForColours(
      QUADRANT_POINTS,
      ['red', 'red', 'red', 'red'],
      PICTURE_MS,
      'muted camera',
    );

    // The page reloads: it reclaims its camera with its key and the mute still holds.
    const cameraId = camera.cameraId;
    await camera.leave();
    await camera.connect();
    assert.equal(camera.cameraId, cameraId, 'the reloaded page got its camera back');
    await program.waitMoving([FULL], PICTURE_MS, 'the reloaded camera');
    assert.ok((await program.audioPower(3000)) < SILENT, 'the reloaded camera is still muted');

    await mute(false);
    await heard('unmuted');
  } finally {
    await scene.close();
  }
});

test('the moderator records the program: a WebM file appears while recording and its frames show the composite', async () => {
  const scene = await openScene('Recording');
  try {
    await scene.join('red');
    await scene.join('green');
    const program = await scene.openMonitor();
    const tiles = gridTiles(2);
    await program.waitForColours(
      tiles.map(colourPoint),
      ['red', 'green'],
      PICTURE_MS,
      'grid of two',
    );

    const folder = stack.app.config.recordingsDir;
    const recordings = async (): Promise<string[]> =>
      (await readdir(folder).catch(() => []))
        .filter((name) => name.startsWith(`${scene.assemblyId}-`))
        .map((name) => path.join(folder, name));
    assert.deepEqual(await recordings(), [], 'nothing recorded before recording is on');
    await scene.record(true);
    // Recording runs until the file holds a few seconds of the program.
    const file = await until(
      30_000,
      async () => {
        const [found] = await recordings();
        if (found === undefined) return undefined;
        return (await stat(found)).size > 150_000 ? found : undefined;
      },
      () => `no recording of ${scene.assemblyId} grew in ${folder}`,
    );
    await scene.record(false);
    // Stopped: the file stops growing.
    let size = -1;
    await until(
      20_000,
      async () => {
        const now = (await stat(file)).size;
        const stopped = now === size;
        size = now;
        return stopped ? true : undefined;
      },
      () => `the recording still grows after recording was turned off (${size} bytes)`,
      1500,
    );
    assert.deepEqual(await recordings(), [file], 'one recording');

    const streams = await probeStreams(file);
    assert.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), [
      'audio:opus',
      'video:vp8',
    ]);
    const frames = await decodeFrames(file);
    assert.ok(frames.count >= 30, `only ${frames.count} frames decoded`);
    assert.deepEqual(
      tiles.map((tile) => frames.colourAt(-1, colourPoint(tile))),
      ['red', 'green'],
      'the last recorded frame shows the composite',
    );
  } finally {
    await scene.close();
  }
});

test('cameras that lose their connection or their picture leave the grid after the grace period while the others keep moving, and come back in their places; a page that returns with its key gets its camera back', async (t) => {
  const step = stopwatch(t);
  const scene = await openScene('Camera loss');
  try {
    const red = await scene.join('red', newCameraKey());
    const green = await scene.join('green', newCameraKey());
    const blue = await scene.join('blue', newCameraKey());
    step('cameras joined');
    const program = await scene.openMonitor();
    step('monitor open');
    const three = gridTiles(4);
    const two = gridTiles(2);
    const showsThree = async (order: PaletteName[], what: string): Promise<void> => {
      await program.waitForColours(three.map(colourPoint), [...order, 'black'], PICTURE_MS, what);
      step(`${what}: colours`);
      await program.waitMoving(three.slice(0, 3), 20_000, what);
    };
    await showsThree(['red', 'green', 'blue'], 'three cameras');
    step('three cameras on the program');

    // (a) Green's socket drops while its media keeps flowing: its tile stays for the grace
    // period, then leaves; red and blue reflow and keep moving.
    const graceMs = stack.app.config.cameraGraceMs;
    const greenId = green.cameraId;
    let since = Date.now();
    green.dropSocket();
    await program.waitForColours(two.map(colourPoint), ['red', 'blue'], PICTURE_MS, 'green gone');
    const afterDrop = Date.now() - since;
    assert.ok(afterDrop >= graceMs - 300, `green's tile left ${afterDrop} ms after its socket`);
    await program.waitMoving(two, 20_000, 'red and blue after green left');
    step('green left after its socket dropped');
    // Back after the grace period with its key, it is the same camera (the server keeps its
    // name and place for the assembly's life) and takes its place between red and blue again.
    await green.connect();
    assert.equal(green.cameraId, greenId, 'after the grace period the page gets its camera back');
    await showsThree(['red', 'green', 'blue'], 'green back in its place');
    step('green back');

    // (b) Blue's picture stops while its socket stays: once the media server has seen no video
    // for the grace period its tile leaves; when it publishes again it is back in its place.
    since = Date.now();
    await blue.stopMedia();
    // Two tiles side by side leave the bottom of the frame black, where a grid of three or four
    // shows its third tile: the check sees blue go, not just red and green at the top.
    const belowTwo: Point = [0.25, 0.88];
    await program.waitForColours(
      [...two.map(colourPoint), belowTwo],
      ['red', 'green', 'black'],
      PICTURE_MS,
      'blue gone',
    );
    const afterStop = Date.now() - since;
    assert.ok(afterStop >= graceMs - 300, `blue's tile left ${afterStop} ms after its media`);
    await program.waitMoving(two, 20_000, 'red and green after blue stopped');
    step('blue left after its media stopped');
    await blue.publish();
    await showsThree(['red', 'green', 'blue'], 'blue publishing again');
    step('blue back');

    // (c) Red's page reloads (socket and peer connection end) and comes back at once with its
    // key: the same camera id and the first cell again, with a live picture.
    const redId = red.cameraId;
    await red.leave();
    await red.connect();
    assert.equal(red.cameraId, redId, 'the reloaded page reclaimed its camera');
    await showsThree(['red', 'green', 'blue'], 'red reclaimed its tile');
    // Its tile never left the mix, so no cut or reflow tells the new page: its offer does.
    await until(
      PICTURE_MS,
      () => Promise.resolve(red.onAir ? true : undefined),
      () => 'the reloaded page was never told that it is on air',
    );
    step('red reloaded and reclaimed its tile');
    const presence = await call<Array<{ role: string; cameraId?: string }>>(
      scene.moderator.timeout(10_000).emitWithAck('presence:list', {}),
    );
    assert.deepEqual(
      presence
        .filter((p) => p.role === 'camera')
        .map((p) => p.cameraId)
        .sort(),
      [red.cameraId, green.cameraId, blue.cameraId].sort(),
      'three cameras, none twice',
    );

    // A second connection with the same key (the old one not seen to drop yet) takes the camera
    // over and the old connection is told why and closed.
    const oldSocket = red.socket;
    const told = new Promise<string>((resolve) =>
      oldSocket.once('request:error', (failure) => resolve(failure.code)),
    );
    const closed = new Promise<string>((resolve) =>
      oldSocket.once('disconnect', (reason) => resolve(reason)),
    );
    await red.connect();
    assert.equal(red.cameraId, redId, 'the newer connection has the same camera');
    assert.equal(await told, 'camera_reconnected');
    assert.equal(await closed, 'io server disconnect');
    await showsThree(['red', 'green', 'blue'], 'red taken over by its newer connection');
    step('red taken over by a newer connection');
  } finally {
    await scene.close();
  }
});

test('a source put on the preview shows on the preview monitor and not on the program; take puts it on the program and the former program on the preview', async (t) => {
  const step = stopwatch(t);
  const scene = await openScene('Preview and take');
  try {
    const red = await scene.join('red');
    const green = await scene.join('green');
    const program = await scene.openMonitor();
    const preview = await scene.openPreview();
    const grid2 = gridTiles(2).map(colourPoint);

    // At first both buses show the composite.
    await program.waitForColours(grid2, ['red', 'green'], PICTURE_MS, 'program composite');
    await preview.waitForColours(grid2, ['red', 'green'], PICTURE_MS, 'preview composite');
    step('both buses show the composite');

    // Red on the program; green on the preview only.
    await scene.cut({ source: 'camera', cameraId: red.cameraId });
    await scene.preview({ source: 'camera', cameraId: green.cameraId });
    await preview.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'green previewed');
    await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'red on the program');
    await preview.waitMoving([FULL], 15_000, 'the previewed camera');
    step('green on preview, red on program');

    // Take: green goes on the program and red, the former program, to the preview.
    assert.deepEqual(await scene.take(), {
      program: { kind: 'camera', cameraId: green.cameraId },
      preview: { kind: 'camera', cameraId: red.cameraId },
    });
    await program.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'green taken');
    await preview.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'red to preview');
    step('take swapped them');

    // A library clip plays on the preview from a player of its own; the program stays.
    await makeQuadrantClip(path.join(await scene.libraryFolder(), 'preview.mp4'), all('yellow'), {
      seconds: 60,
      container: 'mp4',
      width: 320,
      height: 180,
    });
    await scene.preview({ source: 'video', file: 'preview.mp4' });
    await preview.waitForColours(QUADRANT_POINTS, all('yellow'), PICTURE_MS, 'clip previewed');
    await program.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'program kept');
    step('clip on preview');

    // The composite on the preview while a camera is on the program, then taken.
    await scene.preview({ source: 'composite' });
    await preview.waitForColours(grid2, ['red', 'green'], PICTURE_MS, 'composite previewed');
    await program.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'program still');
    await scene.take();
    await program.waitForColours(grid2, ['red', 'green'], PICTURE_MS, 'composite taken');
    await preview.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'green to preview');
    step('composite taken');
  } finally {
    await scene.close();
  }
});

test('a cut to a broken video never freezes the program: a text file named .mp4 and an allow-listed URL answering 404 are refused and the program keeps its source; a video that fails while on air goes back to the previous source and the crew is told why; a refused camera SDP is an error', async (t) => {
  const step = stopwatch(t);
  const scene = await openScene('Broken videos');
  try {
    const red = await scene.join('red');
    const program = await scene.openMonitor();
    await scene.cut({ source: 'camera', cameraId: red.cameraId });
    await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'red on the program');
    step('red on the program');
    const failures: Array<{ message: string; type: string; back: unknown; at: number }> = [];
    scene.moderator.on('program:failed', (failure) =>
      failures.push({ ...failure, at: Date.now() }),
    );

    /**
     * Cuts to a video that cannot play. The player's Error comes either while the cut is under
     * way (the cut is refused, code video_failed, and the program never leaves red) or just
     * after it (the cut is acknowledged and `program:failed` follows): either way red must
     * be on the program again, and how long after the failure was known is reported.
     */
    const cutToBroken = async (request: Parameters<Scene['cut']>[0], what: string) => {
      const before = failures.length;
      let knownAt: number;
      let why: string;
      try {
        await scene.cut(request);
        const failure = await until(
          30_000,
          () => Promise.resolve(failures[before]),
          () => `${what}: the cut was acknowledged but no program:failed came`,
        );
        assert.deepEqual(failure.back, { kind: 'camera', cameraId: red.cameraId });
        knownAt = failure.at;
        why = failure.message;
      } catch (error) {
        assert.match(String(error), /^Error: video_failed: the video could not be played/, what);
        knownAt = Date.now();
        why = String(error);
      }
      await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, `${what}: red back`);
      t.diagnostic(`${what}: red on the program ${Date.now() - knownAt} ms after "${why}"`);
      return why;
    };

    await writeFile(
      path.join(await scene.libraryFolder(), 'notvideo.mp4'),
      'this is not a video\n',
    );
    assert.match(
      await cutToBroken({ source: 'video', file: 'notvideo.mp4' }, 'a text file named .mp4'),
      /STREAM_ERROR_DECODE/,
    );
    assert.match(
      await cutToBroken({ source: 'video', url: `${videoBase}missing.mp4` }, 'a URL answering 404'),
      /RESOURCE_ERROR_OPEN/,
    );
    step('broken videos refused');

    // A clip that plays for a while and then fails: yellow shows, then red comes back.
    const clip = await makeQuadrantClip(path.join(mediaFolder, 'cut-short.mp4'), all('yellow'), {
      seconds: 8,
      container: 'mp4',
      width: 320,
      height: 180,
    });
    const faststart = path.join(mediaFolder, 'cut-short-faststart.mp4');
    await promisify(execFile)('ffmpeg', [
      ...['-v', 'error', '-y', '-i', clip, '-c', 'copy', '-movflags', '+faststart', faststart],
    ]);
    cutShortClip = readFileSync(faststart);
    // The presenter's studio and the moderator's panel are open: each must say why.
    const context = await monitorBrowser.newContext();
    const pages = await Promise.all(
      (['presenter', 'moderator'] as const).map(async (role) => {
        const page = await context.newPage();
        await page.goto(mintLink(stack.app, scene.assemblyId, role));
        await page.waitForSelector('#status[data-state="connected"]', { timeout: PICTURE_MS });
        return page;
      }),
    );
    const before = failures.length;
    await scene.cut({ source: 'video', url: `${videoBase}cut-short.mp4` });
    await program.waitForColours(QUADRANT_POINTS, all('yellow'), PICTURE_MS, 'the clip plays');
    step('the clip plays');
    const failure = await until(
      PICTURE_MS,
      () => Promise.resolve(failures[before]),
      () => 'the clip broke off but no program:failed came',
    );
    assert.match(failure.message, /cut-short\.mp4|could not be played/);
    assert.match(failure.type, /^RESOURCE_ERROR|^STREAM_ERROR/);
    assert.deepEqual(failure.back, { kind: 'camera', cameraId: red.cameraId });
    await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'red back after it');
    t.diagnostic(`failed while on air: red on the program ${Date.now() - failure.at} ms after it`);
    for (const page of pages) {
      await page
        .getByText(/cut-short\.mp4 could not be played \((RESOURCE|STREAM)_ERROR/)
        .waitFor({ timeout: PICTURE_MS });
    }
    await context.close();
    step('fell back after a failure on air');

    // A camera whose offer the engine refuses gets an error, not an "ok" without an answer.
    const camera = connectPage(stack.app.url, {
      token: mintToken(stack.app, scene.assemblyId, 'camera'),
      assembly: scene.assemblyId,
      cameraKey: newCameraKey(),
    });
    try {
      await welcomed(camera);
      const reply = (await camera
        .timeout(20_000)
        .emitWithAck('camera:offer', { sdp: 'v=0\r\nthis is not an offer\r\n' })) as {
        ok: boolean;
        error?: { code: string; message: string };
      };
      assert.equal(reply.ok, false, 'a refused SDP is an error');
      assert.equal(reply.error?.code, 'sdp_rejected');
      assert.match(reply.error?.message ?? '', /rejected the camera's SDP offer/);
    } finally {
      camera.close();
    }
    // The program went on meanwhile.
    await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'red after the SDP');
  } finally {
    await scene.close();
  }
});

/**
 * The command lines of this test's processes (this one and its descendants: the engine, its
 * workers, the ffmpegs, nginx), by pid. Other test runs on the machine are not looked at.
 */
function commandLines(): Map<number, string> {
  const parents = new Map<number, number>();
  const lines = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 4th field of stat, after the command in parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      lines.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // Gone already.
    }
  }
  const ours = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
      if (at === process.pid) return true;
    }
    return false;
  };
  return new Map([...lines].filter(([pid]) => ours(pid)));
}

test('secrets stay private on the machine: with a live program and its rendition on the origin, no command line holds the stream key, a secret or an invite token; the database, its WAL and the secret files are 0600 in a 0700 folder; a foreign keyless publish is refused', async () => {
  const scene = await openScene('Secrets');
  try {
    await scene.join('red');
    const program = await scene.openMonitor();
    await program.waitForColours(QUADRANT_POINTS, all('red'), PICTURE_MS, 'the camera');
    // The bridge's ffmpeg publishes the program and a rendition encoder plays it and publishes
    // its rendition, all without a key on their command lines.
    const { origin } = stack.delivery;
    const stream = streamName(scene.assemblyId);
    const rendition = streamName(renditionStream(stream, { id: '360p' } as never));
    await until(
      PICTURE_MS,
      () => Promise.resolve(origin.isLive(stream) && origin.isLive(rendition) ? true : undefined),
      () =>
        `the program (${origin.isLive(stream)}) and its rendition (${origin.isLive(rendition)}) are live on the origin`,
    );
    const dataDir = stack.app.config.dataDir;
    const secrets = new Map<string, string>([
      ['stream key', stack.app.core.assemblies.get(parseAssemblyId(scene.assemblyId)).streamKey],
      ['edge secret', stack.app.edgeSecret],
      ['token secret', readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim()],
      ['moderator token', (scene.moderator.auth as { token: string }).token],
    ]);
    const lines = commandLines();
    const ffmpegs = [...lines].filter(([, line]) => line.startsWith('ffmpeg '));
    assert.ok(
      ffmpegs.some(
        ([, line]) => line.includes(`/live/${stream} `) || line.endsWith(`/live/${stream} `),
      ),
      `the bridge's ffmpeg runs: ${ffmpegs.map(([, line]) => line.slice(-120)).join(' | ')}`,
    );
    for (const [pid, line] of lines) {
      for (const [what, secret] of secrets) {
        assert.ok(!line.includes(secret), `the ${what} is on the command line of ${pid}: ${line}`);
      }
      assert.doesNotMatch(line, /rtmp:\/\/\S*[?&](key|secret)=/, `process ${pid}`);
    }

    // Owner-only files in an owner-only folder.
    const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);
    assert.equal(mode(dataDir), '700', dataDir);
    const database = stack.app.config.databasePath;
    for (const file of [
      database,
      `${database}-wal`,
      `${database}-shm`,
      'jwt-secret',
      'edge-secret',
    ]) {
      const full = path.isAbsolute(file) ? file : path.join(dataDir, file);
      assert.equal(mode(full), '600', full);
    }

    // A keyless publish from any other local process is refused, even to a stream that the
    // app's own ffmpeg may publish without a key.
    const refused = new Promise((resolve) =>
      origin.on('rejected', (event) => {
        if (event.kind === 'publish' && event.stream === rendition) resolve(event.reason);
      }),
    );
    const intruder = execFile('ffmpeg', [
      ...['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=10', '-t', '20'],
      ...['-c:v', 'libx264', '-f', 'flv', origin.localUrl(rendition)],
    ]);
    try {
      assert.equal(
        await until(
          20_000,
          () => Promise.race([refused, Promise.resolve(undefined)]),
          () => 'the keyless publish was not refused',
        ),
        'bad-key',
      );
    } finally {
      intruder.kill('SIGKILL');
    }
    assert.ok(origin.isLive(rendition), "the encoder's rendition stays live");
  } finally {
    await scene.close();
  }
});

test('after the media engine dies and its supervisor restarts it, the app rebuilds the assembly: cameras and the monitors offer again, the composite is back with its tiles in the same places and the preview shows what it showed', async () => {
  const scene = await openScene('Engine restart');
  try {
    const red = await scene.join('red');
    const green = await scene.join('green');
    const program = await scene.openMonitor();
    const tiles = gridTiles(2);
    await program.waitForColours(tiles.map(colourPoint), ['red', 'green'], PICTURE_MS, 'before');
    // The preview survives the rebuild too: green stays on it.
    const preview = await scene.openPreview();
    await scene.preview({ source: 'camera', cameraId: green.cameraId });
    await preview.waitForColours(QUADRANT_POINTS, all('green'), PICTURE_MS, 'preview before');

    const pid = await supervisedEnginePid();
    assert.ok(pid !== undefined, 'the supervised engine runs');
    process.kill(pid, 'SIGKILL');
    // The supervisor starts a new engine on the same port; the app reconnects, rebuilds the
    // assembly and says media:reset, after which the pages offer again by themselves.
    await until(
      60_000,
      () =>
        Promise.resolve(
          red.resets > 0 && green.resets > 0 && program.resets > 0 && preview.resets > 0
            ? true
            : undefined,
        ),
      () =>
        `media:reset not received (cameras ${red.resets}, ${green.resets}; monitor ${program.resets}; preview ${preview.resets})`,
      250,
    );
    const restarted = await supervisedEnginePid();
    assert.ok(restarted !== undefined && restarted !== pid, 'a new engine process runs');
    await Promise.all([red.published, green.published, program.offered, preview.offered]);
    // The cameras offered again at the same time, in any order; their tiles come back in their
    // places (the server's slots), not in the order the offers arrived.
    await program.waitForColours(tiles.map(colourPoint), ['red', 'green'], 60_000, 'rebuilt');
    await program.waitMoving(tiles, 20_000, 'rebuilt');
    await preview.waitForColours(QUADRANT_POINTS, all('green'), 60_000, 'preview rebuilt');
    await preview.waitMoving([FULL], 20_000, 'preview rebuilt');
  } finally {
    await scene.close();
  }
});
