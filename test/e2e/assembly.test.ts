/**
 * The proof, end to end with real parts only: the media engine (started the way
 * `npm start` does, or on its own and reached through KMS_URI), the app server with its RTMP
 * origin and a local nginx-rtmp edge (started by `startDelivery`, as `npm start` does), ffmpeg
 * as the program bridge, three Chromium cameras with distinct fake pictures, and hls.js in a
 * browser reading the edge's HLS. Every check samples pixels of the HLS picture.
 *
 * The cameras are driven through socket.io-client plus a BrowserPeer (a real RTCPeerConnection
 * in Chromium), with exactly the socket events the /camera page uses; the presenter is a
 * socket.io client.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { startDelivery, type Delivery } from '../../server/delivery.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { EngineSupervisor, waitForPort } from '../../server/engine/EngineSupervisor.js';
import { Logger } from '../../server/log.js';
import type {
  ClientToServerEvents,
  IceCandidateWire,
  ProgramWire,
  Reply,
  ServerToClientEvents,
} from '../../server/signaling/events.js';
import { fragments, startWatchPage, waitForText } from '../edge/helpers.js';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { freePort, REPO_ROOT, startEngineProcess } from '../helpers/engineProcess.js';
import { classify, makeQuadrantClip, makeQuadrantY4m, type PaletteName } from '../helpers/media.js';
import { createAssembly, request, wireError } from '../server/appHelpers.js';

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

const CAMERA_COLOURS = ['red', 'green', 'blue'] as const;
const CLIP_COLOUR: PaletteName = 'yellow';
const CLIP_SECONDS = 4;

/** Everything the test started; `teardown()` stops it all, in reverse order. */
interface Stack {
  app: App;
  delivery: Delivery;
  operatorToken: string;
  teardown(): Promise<void>;
}

/**
 * Starts the engine (embedded: supervised as `npm start` does; external: its own process reached
 * through KMS_URI), the app server, the origin and the local edge, and waits until the app is
 * connected to the media server, so no step of the test sleeps for readiness.
 */
async function setup(mode: 'embedded' | 'KMS_URI'): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'montage-e2e-'));
  const cleanups: Array<() => Promise<void>> = [
    () => rm(dataDir, { recursive: true, force: true }),
  ];
  const teardown = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error('teardown step failed', error));
    }
  };
  try {
    const env: Record<string, string> = {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_CAMERA_GRACE_MS: '2000',
    };
    if (mode === 'KMS_URI') {
      const engine = await startEngineProcess();
      cleanups.push(() => engine.stop());
      env.KMS_URI = engine.url;
    } else {
      const port = await freePort();
      const engine = new EngineSupervisor({
        command: process.execPath,
        args: [path.join(REPO_ROOT, 'dist', 'kms', 'src', 'main.js')],
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          KMS_HOST: '127.0.0.1',
          KMS_PORT: String(port),
          KMS_ICE_ADDRESSES: '127.0.0.1',
        },
      });
      engine.start();
      cleanups.push(() => engine.stop());
      await waitForPort('127.0.0.1', port, 15_000);
      env.KMS_PORT = String(port);
    }
    const config = loadAppConfig({ env, envFile: null });
    const app = new App(config, {
      logger: new Logger(process.env.E2E_LOG === '1' ? 'debug' : 'warn'),
    });
    await app.start();
    cleanups.push(() => app.stop());
    await app.mediaServer?.waitConnected(15_000);
    const delivery = await startDelivery(app, {
      rtmpHost: '127.0.0.1',
      rtmpPort: await freePort(),
      edge: {
        prefix: path.join(dataDir, 'edge'),
        httpPort: await freePort(),
        rtmpPort: await freePort(),
      },
    });
    cleanups.push(() => delivery.stop());
    return {
      app,
      delivery,
      operatorToken: app.core.invites.mintOperator('e2e', 3600).token,
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}

function connectSocket(url: string, token: string, assembly: string): Client {
  return io(url, {
    auth: { token, assembly },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
}

async function connected(socket: Client): Promise<void> {
  if (socket.connected) return;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

async function call<T>(promise: Promise<unknown>): Promise<T> {
  const reply = (await promise) as Reply<T>;
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.data;
}

/** One camera: its own Chromium (own fake picture), its peer, its socket. */
interface Camera {
  colour: PaletteName;
  browser: Browser;
  peer: BrowserPeer;
  socket: Client;
  cameraId: string;
  close(): Promise<void>;
}

/** Joins a camera the way the /camera page does: welcome, offer, answer, trickle both ways. */
async function joinCamera(
  url: string,
  token: string,
  assembly: string,
  colour: PaletteName,
  y4m: string,
): Promise<Camera> {
  const browser = await launchChromium({ fakeVideoFile: y4m });
  const peer = await BrowserPeer.open(browser);
  const socket = connectSocket(url, token, assembly);
  const welcome = new Promise<string>((resolve) =>
    socket.once('welcome', (w) => resolve(w.you.cameraId ?? '')),
  );
  await connected(socket);
  const cameraId = await welcome;
  // Candidates from the server wait until the answer is set, as the page does.
  const early: IceCandidateWire[] = [];
  let answered = false;
  socket.on('camera:candidate', (candidate) => {
    if (answered) void peer.addCandidate(candidate);
    else early.push(candidate);
  });
  peer.onCandidate((candidate) => {
    void socket.timeout(5000).emitWithAck('camera:candidate', candidate);
  });
  const offer = await peer.createOffer({ send: true });
  const { sdp } = await call<{ sdp: string }>(
    socket.timeout(15_000).emitWithAck('camera:offer', { sdp: offer }),
  );
  await peer.setAnswer(sdp);
  answered = true;
  for (const candidate of early.splice(0)) await peer.addCandidate(candidate);
  return {
    colour,
    browser,
    peer,
    socket,
    cameraId,
    close: async () => {
      socket.close();
      await browser.close();
    },
  };
}

/** Samples the HLS video at the given points (fractions) and names their colours. */
async function sampleColours(page: Page, points: Array<[number, number]>): Promise<PaletteName[]> {
  const pixels = await page.evaluate(
    (p) =>
      (
        window as unknown as { sample(p: number[][]): Array<{ r: number; g: number; b: number }> }
      ).sample(p),
    points,
  );
  return pixels.map(classify);
}

/** Waits until the HLS picture shows `expected` at `points`; returns how long it took. */
async function waitForPicture(
  page: Page,
  points: Array<[number, number]>,
  expected: PaletteName[],
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = Date.now();
  let seen: PaletteName[] = [];
  while (Date.now() - started < timeoutMs) {
    seen = await sampleColours(page, points).catch(() => []);
    if (seen.join() === expected.join()) return Date.now() - started;
    await sleep(150);
  }
  throw new Error(
    `${what}: expected ${expected.join(',')}, saw ${seen.join(',')} after ${timeoutMs} ms`,
  );
}

/** Centres of the cells of a grid of three (2 x 2, the fourth empty) and of two (2 x 1). */
const GRID3: Array<[number, number]> = [
  [0.25, 0.25],
  [0.75, 0.25],
  [0.25, 0.75],
  [0.75, 0.75],
];
const GRID2: Array<[number, number]> = [
  [0.25, 0.5],
  [0.75, 0.5],
];
const FULL: Array<[number, number]> = [
  [0.25, 0.25],
  [0.75, 0.25],
  [0.25, 0.75],
  [0.75, 0.75],
];

async function runAssembly(mode: 'embedded' | 'KMS_URI'): Promise<void> {
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number): void => {
    timings[name] = Date.now() - since;
  };
  const t0 = Date.now();
  const stack = await setup(mode);
  mark('setup', t0);
  const media = await mkdtemp(path.join(tmpdir(), 'montage-e2e-media-'));
  const cameras: Camera[] = [];
  const sockets: Client[] = [];
  let viewerBrowser: Browser | undefined;
  let watch: { url: string; close(): Promise<void> } | undefined;
  try {
    const { app } = stack;
    const url = app.url;
    const running = {
      app,
      url,
      dataDir: '',
      operatorToken: stack.operatorToken,
      teardown: () => Promise.resolve(),
    };
    const assembly = await createAssembly(running, 'E2E assembly');
    const other = await createAssembly(running, 'Another assembly');
    const mint = (
      assemblyId: string,
      role: 'camera' | 'presenter' | 'moderator' | 'viewer',
    ): string => app.core.invites.mint('e2e', parseAssemblyId(assemblyId), role, 3600).token;

    // Test media, generated now: one flat colour per camera, and the clip to inject.
    const [y4ms, clip] = await Promise.all([
      Promise.all(
        CAMERA_COLOURS.map((colour) =>
          makeQuadrantY4m(path.join(media, `${colour}.y4m`), [colour, colour, colour, colour]),
        ),
      ),
      makeQuadrantClip(
        path.join(media, 'clip.mp4'),
        [CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR],
        {
          seconds: CLIP_SECONDS,
          container: 'mp4',
        },
      ),
    ]);

    // The presenter uploads the clip into the library through REST, as the panel does.
    const presenterToken = mint(assembly.id, 'presenter');
    const upload = await fetch(`${url}/api/assemblies/${assembly.id}/library`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${presenterToken}`,
        'content-type': 'video/mp4',
        'x-filename': 'clip.mp4',
      },
      body: await readFile(clip),
    });
    assert.equal(upload.status, 201, await upload.clone().text());

    const presenter = connectSocket(url, presenterToken, assembly.id);
    sockets.push(presenter);
    const programChanges: ProgramWire[] = [];
    const progress: Array<{ positionMs: number; durationMs: number }> = [];
    presenter.on('program:changed', ({ source }) => programChanges.push(source));
    presenter.on('program:progress', (p) => progress.push(p));
    await connected(presenter);
    const library = await call<{ videos: Array<{ name: string }> }>(
      presenter.timeout(5000).emitWithAck('library:list', {}),
    );
    assert.deepEqual(
      library.videos.map((v) => v.name),
      ['clip.mp4'],
    );

    // Three cameras join one after another, so the grid order is red, green, blue.
    let t = Date.now();
    for (const [i, colour] of CAMERA_COLOURS.entries()) {
      cameras.push(
        await joinCamera(url, mint(assembly.id, 'camera'), assembly.id, colour, y4ms[i] ?? ''),
      );
    }
    mark('camerasJoined', t);

    // The viewer asks where to watch and plays the edge's HLS with hls.js.
    t = Date.now();
    const viewerToken = mint(assembly.id, 'viewer');
    const where = await request(`${url}/api/assemblies/${assembly.id}/watch`, 'GET', viewerToken);
    assert.equal(where.status, 200);
    const { playlistUrl } = where.body as { playlistUrl: string; live: boolean };
    assert.ok(playlistUrl.startsWith(stack.delivery.edge?.httpUrl ?? '?'), playlistUrl);
    await waitForText(playlistUrl, (body) => fragments(body).length >= 2, 45_000);
    mark('firstHls', t);
    const nowLive = await request(`${url}/api/assemblies/${assembly.id}/watch`, 'GET', viewerToken);
    assert.equal((nowLive.body as { live: boolean }).live, true);
    watch = await startWatchPage();
    viewerBrowser = await launchChromium();
    const page = await viewerBrowser.newPage();
    await page.goto(watch.url);
    await page.evaluate(
      (src) => (window as unknown as { play(s: string): void }).play(src),
      playlistUrl,
    );

    t = Date.now();
    await waitForPicture(
      page,
      GRID3,
      ['red', 'green', 'blue', 'black'],
      45_000,
      'composite of three',
    );
    mark('compositeOnHls', t);

    // The presenter cuts to the clip; the HLS shows it, then the composite again by itself.
    t = Date.now();
    const cut = await call<ProgramWire>(
      presenter.timeout(15_000).emitWithAck('program:cut', { source: 'video', file: 'clip.mp4' }),
    );
    assert.deepEqual(cut, { kind: 'video', name: 'clip.mp4' });
    await waitForPicture(
      page,
      FULL,
      [CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR],
      30_000,
      'clip',
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; program changes ${JSON.stringify(programChanges)}; ` +
          `progress ${JSON.stringify(progress.slice(-3))}`,
      );
    });
    mark('clipOnHls', t);
    const backDeadline = Date.now() + 20_000;
    while (!programChanges.some((s) => s.kind === 'composite') && Date.now() < backDeadline) {
      await sleep(100);
    }
    assert.deepEqual(programChanges, [{ kind: 'video', name: 'clip.mp4' }, { kind: 'composite' }]);
    assert.ok(progress.length >= 4, `progress reported ${progress.length} times`);
    assert.ok(
      progress.every(
        (p) =>
          p.durationMs >= (CLIP_SECONDS - 1) * 1000 && p.durationMs <= (CLIP_SECONDS + 1) * 1000,
      ),
      `durations ${JSON.stringify(progress.slice(0, 3))}`,
    );
    await waitForPicture(
      page,
      GRID3,
      ['red', 'green', 'blue', 'black'],
      30_000,
      'back to composite',
    );
    mark('backToCompositeOnHls', t);

    // The green camera closes: after the grace period its tile leaves and the grid reflows.
    t = Date.now();
    const green = cameras.splice(1, 1)[0];
    await green?.close();
    await waitForPicture(page, GRID2, ['red', 'blue'], 40_000, 'reflow to two tiles');
    mark('reflowOnHls', t);

    // A token for another assembly is refused on the page, the socket and every route.
    for (const role of ['camera', 'presenter', 'moderator', 'viewer'] as const) {
      const foreign = mint(other.id, role);
      const pageResponse = await fetch(`${url}/watch/${assembly.id}?token=${foreign}`);
      assert.equal(pageResponse.status, 403, `watch page with a ${role} token of another assembly`);
      const refused = connectSocket(url, foreign, assembly.id);
      const error = await new Promise<Error & { data?: { code: string } }>((resolve) =>
        refused.once('connect_error', resolve),
      );
      refused.close();
      assert.equal(error.data?.code, 'wrong_assembly', `socket with a ${role} token`);
      for (const [method, route] of [
        ['GET', `/api/assemblies/${assembly.id}/watch`],
        ['GET', `/api/assemblies/${assembly.id}`],
        ['GET', `/api/assemblies/${assembly.id}/invites`],
        ['GET', `/api/assemblies/${assembly.id}/library/clip.mp4`],
      ] as const) {
        const response = await request(`${url}${route}`, method, foreign);
        assert.ok(
          response.status === 403,
          `${method} ${route} with a ${role} token of another assembly: ${response.status}`,
        );
        assert.match(wireError(response.body).code, /wrong_assembly|forbidden_role/);
      }
      const uploadForeign = await fetch(`${url}/api/assemblies/${assembly.id}/library`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${foreign}`,
          'content-type': 'video/mp4',
          'x-filename': 'x.mp4',
        },
        body: 'not a video',
      });
      assert.equal(uploadForeign.status, 403);
    }
    process.stdout.write(`${mode} timings (ms): ${JSON.stringify(timings)}\n`);
  } finally {
    for (const socket of sockets) socket.close();
    for (const camera of cameras) await camera.close().catch(() => undefined);
    await viewerBrowser?.close();
    await watch?.close();
    await stack.teardown();
    await rm(media, { recursive: true, force: true });
  }
}

test('an assembly with the engine started by the app: cameras → composite → HLS, clip cut with automatic return, reflow, foreign tokens refused', async () => {
  await runAssembly('embedded');
});

test('the same assembly with the engine started separately and reached through KMS_URI', async () => {
  await runAssembly('KMS_URI');
});
