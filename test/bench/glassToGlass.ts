/**
 * Glass-to-glass benchmark (`npm run bench -- g2g`): the wall-clock time burned into a camera's
 * frames (stamp.ts) and read back from the frames a viewer's page presents, with the whole
 * system running as `npm start` runs it (test/e2e/stack.ts: engine, app server, RTMP origin,
 * local nginx-rtmp edge) and real pages in real Chromium:
 *
 *   camera  the real /camera page, its getUserMedia replaced by a canvas that paints Date.now()
 *           every frame (stampPage.ts), published over the page's own socket.io signaling
 *   (1)     the real /studio page's WebRTC program monitor: the composite (one camera: it fills
 *           the frame, scaled 640x360 → 1280x720, re-encoded), then the program cut to the camera
 *           with the studio's own button. Anchor, at the same time and from the same canvas
 *           track: a direct Chromium → Chromium WebRTC connection with no server in between.
 *   (2)     the real /watch page (hls.js on the app's multivariant playlist, content steering, the
 *           720p/360p ladder) on the edge. Anchor, at the same time and fed the same RTMP
 *           program by the origin: a second nginx-rtmp with `hls on` and nothing else (5 s
 *           fragments, 30 s playlist), played by a plain hls.js page.
 *   (3)     navigation start → first presented frame of the /watch page opened afresh, next to
 *           a plain hls.js page on nginx-rtmp's defaults and on our edge (the page's own cost).
 *
 * The edge is a TestEdge (test/hls/TestEdge.ts: nginx/edge.conf.template with its playlist
 * agent, run in the foreground) listed in MONTAGE_EDGES. The run also prints what ffprobe finds
 * in the program and
 * its 360p rendition on the origin next to the CODECS the multivariant playlist declares.
 *
 * All clocks are this machine's Date.now(), read by the camera page when it paints and by the
 * viewer page at each frame's expected display time. Phases run one after another (HLS, first
 * frames, monitor, and the cut last so that nothing it does to the program is in the others'
 * figures) because every page here decodes and reads back video on the same two cores as the
 * media engine, while viewers of a real assembly sit on other machines. The figures are medians
 * and 95th percentiles over every frame of a phase. The run prints every table, then fails when
 * a path showed no readable picture (fewer than 20 stamps in its window: a frozen or black
 * picture, not a slow one), so a broken path cannot pass as a figure.
 *
 * Knobs (environment, all optional; defaults keep the run under about three minutes):
 *   BENCH_G2G_SECONDS       monitor window on the composite (default 20)
 *   BENCH_G2G_CUT_SECONDS   monitor window with the program cut to the camera (default 10)
 *   BENCH_G2G_HLS_SECONDS   HLS window (default 30)
 *   BENCH_G2G_OPENS         fresh opens per page kind for the first-frame figure (default 10)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { EdgeId } from '../../server/origin/RtmpOrigin.js';
import { waitForPort } from '../../server/engine/EngineSupervisor.js';
import { mintToken, setup, type Stack } from '../e2e/stack.js';
import {
  fragments,
  spawnTestProcess,
  startWatchPage,
  waitForText,
  type TestProcess,
} from '../edge/helpers.js';
import { launchChromium } from '../helpers/browser.js';
import { freePort } from '../helpers/engineProcess.js';
import { request } from '../server/appHelpers.js';
import { EDGE_SECRET } from '../edge/helpers.js';
import { captureStream, streamInfo } from '../hls/helpers.js';
import { TestEdge } from '../hls/TestEdge.js';
import { LOW_RENDITION, SOURCE_RENDITION } from '../../server/hls/renditions.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import type { FractionRect } from './stamp.js';
import {
  pageScript,
  stampCamera,
  stampViewer,
  type ViewerProbe,
  type ViewerProbeOptions,
} from './stampPage.js';
import { median, percentile, printComparison, type ComparisonRow } from './stats.js';

const MONITOR_SECONDS = Number(process.env.BENCH_G2G_SECONDS ?? 20);
const CUT_SECONDS = Number(process.env.BENCH_G2G_CUT_SECONDS ?? 10);
const HLS_SECONDS = Number(process.env.BENCH_G2G_HLS_SECONDS ?? 30);
const OPENS = Number(process.env.BENCH_G2G_OPENS ?? 10);

const CAMERA = { width: 640, height: 360, fps: 30 };
/**
 * With one camera the composite's grid is one cell, and a 16:9 camera fills the 16:9 program
 * (kms/worker/composite.c letterboxes into the cell); a cut to the camera fills it too. So the
 * camera's picture is the whole frame on every path measured here.
 */
const WHOLE_FRAME: FractionRect = { x: 0, y: 0, w: 1, h: 1 };
/** Frames are read back at most this wide: cells stay 18 px wide, and reading stays cheap. */
const READ_WIDTH = 480;
/** After a cut, time for the switch and the next keyframe before frames count. */
const SETTLE_MS = 3_000;
const ANCHOR_EDGE = 'g2g-defaults-anchor' as EdgeId;

// ---------------------------------------------------------------------------------------------
// The anchor's nginx-rtmp: HLS with the module's defaults

/**
 * An nginx-rtmp that writes HLS with nothing but `hls on` and a path: 5 s fragments, a 30 s
 * sliding playlist. The http side only serves the files, with the CORS header a page on another
 * port needs and the no-cache header nginx-rtmp's own example config puts on them.
 */
class DefaultsHls {
  private constructor(
    private readonly prefix: string,
    private readonly nginx: TestProcess,
    private readonly httpPort: number,
    private readonly rtmpPort: number,
  ) {}

  static async start(): Promise<DefaultsHls> {
    const prefix = await mkdtemp(path.join(tmpdir(), 'montage-g2g-nginx-'));
    for (const folder of ['logs', 'hls', 'tmp']) await mkdir(path.join(prefix, folder));
    const httpPort = await freePort();
    const rtmpPort = await freePort();
    const config = [
      'load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;',
      // As root, nginx's workers would run as nobody, who cannot write the temp folder.
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      `pid ${prefix}/nginx.pid;`,
      `error_log ${prefix}/logs/error.log warn;`,
      'events { worker_connections 1024; }',
      'rtmp { server {',
      `  listen 127.0.0.1:${rtmpPort};`,
      '  application live {',
      '    live on;',
      '    hls on;',
      `    hls_path ${prefix}/hls;`,
      '  }',
      '} }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${prefix}/tmp/${kind};`,
      ),
      '  server {',
      `    listen 127.0.0.1:${httpPort};`,
      `    root ${prefix};`,
      '    location /hls/ {',
      '      types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }',
      '      add_header Cache-Control no-cache;',
      '      add_header Access-Control-Allow-Origin * always;',
      '    }',
      '  }',
      '}',
    ].join('\n');
    const file = path.join(prefix, 'nginx.conf');
    await writeFile(file, config);
    // In the foreground, so that it is this process's child and stops with it.
    const nginx = spawnTestProcess('/usr/sbin/nginx', [
      '-p',
      prefix,
      '-c',
      file,
      '-e',
      'logs/error.log',
      '-g',
      'daemon off;',
    ]);
    try {
      await Promise.race([
        waitForPort('127.0.0.1', httpPort, 10_000),
        nginx.exited.then((code) => {
          throw new Error(`nginx exited (${code}): ${nginx.stderr()}`);
        }),
      ]);
    } catch (error) {
      await nginx.stop();
      await rm(prefix, { recursive: true, force: true });
      throw error;
    }
    return new DefaultsHls(prefix, nginx, httpPort, rtmpPort);
  }

  get ingestUrl(): string {
    return `rtmp://127.0.0.1:${this.rtmpPort}/live`;
  }

  /** nginx-rtmp's playlist of one stream without `hls_nested`: hls/STREAM.m3u8. */
  playlistUrl(stream: string): string {
    return `http://127.0.0.1:${this.httpPort}/hls/${stream}.m3u8`;
  }

  async stop(): Promise<void> {
    await this.nginx.stop();
    await rm(this.prefix, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Pages

interface ProbePage {
  context: BrowserContext;
  page: Page;
}

/** Opens `url` in a fresh context (no cache, no cookies) with the stamp reader installed. */
async function openProbed(
  browser: Browser,
  url: string,
  options: Partial<ViewerProbeOptions> = {},
): Promise<ProbePage> {
  const context = await browser.newContext();
  await context.addInitScript({
    content: pageScript(stampViewer, {
      region: WHOLE_FRAME,
      reading: true,
      readWidth: READ_WIDTH,
      ...options,
    }),
  });
  const page = await context.newPage();
  await page.goto(url);
  return { context, page };
}

/** The probe's counters, without its samples. */
async function counters(page: Page): Promise<Omit<ViewerProbe, 'samples'>> {
  return page.evaluate(() => {
    const probe = window.stampViewer;
    if (probe === undefined) throw new Error('no stamp reader in the page');
    const { samples: _samples, ...rest } = probe;
    return rest;
  });
}

async function waitForSamples(
  page: Page,
  count: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  try {
    await page.waitForFunction((n) => (window.stampViewer?.samples.length ?? 0) >= n, count, {
      timeout: timeoutMs,
      polling: 200,
    });
  } catch {
    const seen = await counters(page).catch(() => undefined);
    // What the page itself says (its overlay, its status pill) and where its <video> is.
    const shown = await page
      .evaluate(() => {
        const video = document.querySelector('video');
        return {
          text: document.body.innerText.replace(/\s+/g, ' ').slice(0, 300),
          readyState: video?.readyState,
          currentTime: video?.currentTime,
          paused: video?.paused,
          error: video?.error?.message,
          // The plain hls.js page collects hls.js's errors here.
          hlsErrors: (window as unknown as { hlsErrors?: string[] }).hlsErrors,
        };
      })
      .catch(() => undefined);
    throw new Error(
      `${what}: fewer than ${count} stamps read after ${timeoutMs} ms ` +
        `(reader ${JSON.stringify(seen)}; page ${JSON.stringify(shown)}); ` +
        page.url().replace(/token=[^&]+/, 'token=…'),
    );
  }
}

/** What one page showed during one window. */
interface WindowResult {
  /** Latency of every stamp first displayed in the window, ms. */
  latencies: number[];
  /** Frames presented, and frames whose stamp did not read, during the window. */
  frames: number;
  unreadable: number;
}

/** Measures every page over the same `seconds`. */
async function measure(pages: readonly Page[], seconds: number): Promise<WindowResult[]> {
  const before = await Promise.all(pages.map(counters));
  const from = Date.now();
  await sleep(seconds * 1000);
  const to = Date.now();
  return Promise.all(
    pages.map(async (page, i) => {
      const after = await counters(page);
      const latencies = await page.evaluate(
        ([start, end]) =>
          (window.stampViewer?.samples ?? [])
            .filter(([, shownAt]) => shownAt >= start && shownAt < end)
            .map(([stamp, shownAt]) => shownAt - stamp),
        [from, to] as const,
      );
      return {
        latencies,
        frames: after.frames - (before[i]?.frames ?? 0),
        unreadable: after.unreadable - (before[i]?.unreadable ?? 0),
      };
    }),
  );
}

function describe(what: string, result: WindowResult | undefined, seconds: number): string {
  if (result === undefined) return `${what}: nothing`;
  return (
    `${what}: ${result.latencies.length} stamps from ${result.frames} presented frames ` +
    `(${(result.frames / seconds).toFixed(1)} per second, ${result.unreadable} unreadable)`
  );
}

/**
 * Fewer stamps than this in a window means a broken path (a frozen or black picture), not a
 * slow one: its figures are not printed as if they meant something. A loaded 2-core machine
 * presents as few as 8 frames a second, so the bar is low.
 */
const MIN_SAMPLES = 20;

/** The latencies of a window, or none when too few were read to mean anything. */
function usable(result: WindowResult | undefined): number[] {
  const latencies = result?.latencies ?? [];
  return latencies.length >= MIN_SAMPLES ? latencies : [];
}

/** p50 and p95 rows of one comparison (NaN where a side read too little). */
function rows(
  label: string,
  ours: WindowResult | undefined,
  anchor: WindowResult | undefined,
  goals: { p50?: string; p95?: string } = {},
): ComparisonRow[] {
  const o = usable(ours);
  const a = usable(anchor);
  return [
    { metric: `${label} p50`, ours: median(o), anchor: median(a), unit: 'ms', goal: goals.p50 },
    {
      metric: `${label} p95`,
      ours: percentile(o, 95),
      anchor: percentile(a, 95),
      unit: 'ms',
      goal: goals.p95,
    },
  ];
}

/**
 * Sends the camera page's canvas track straight to `receiver` (the plain page, whose <video>
 * the reader watches) over a second RTCPeerConnection: the same frames, encoded by the same
 * browser, with no server in between. The SDP travels through this process after ICE
 * gathering completed (loopback host candidates only), so no signaling server is needed.
 */
async function connectDirect(camera: Page, receiver: Page): Promise<void> {
  const offer = await camera.evaluate(async () => {
    const source = window.stampCamera;
    if (source === undefined) throw new Error('no stamp camera in the page');
    const pc = new RTCPeerConnection();
    (window as unknown as { directPeer: RTCPeerConnection }).directPeer = pc;
    pc.addTransceiver(source.videoTrack(), { direction: 'sendonly' });
    await pc.setLocalDescription();
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
    });
    return pc.localDescription?.sdp ?? '';
  });
  const answer = await receiver.evaluate(async (sdp) => {
    const pc = new RTCPeerConnection();
    (window as unknown as { directPeer: RTCPeerConnection }).directPeer = pc;
    const video = document.querySelector('video');
    if (video === null) throw new Error('no <video> on the receiving page');
    pc.addEventListener('track', (event) => {
      video.srcObject = new MediaStream([event.track]);
      void video.play();
    });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription();
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
    });
    return pc.localDescription?.sdp ?? '';
  }, offer);
  await camera.evaluate(async (sdp) => {
    const pc = (window as unknown as { directPeer?: RTCPeerConnection }).directPeer;
    await pc?.setRemoteDescription({ type: 'answer', sdp });
  }, answer);
}

/**
 * Navigation start → first presented frame of a page opened in a fresh context, in ms, or
 * undefined when no frame came within 20 s (counted and reported, not fatal: one stuck open
 * out of ten is a finding, not a reason to lose the other figures).
 */
async function firstFrameMs(
  browser: Browser,
  url: string,
  autoplaySrc: string | undefined,
): Promise<number | undefined> {
  const { context, page } = await openProbed(browser, url, { reading: false, autoplaySrc });
  try {
    await page.waitForFunction(() => (window.stampViewer?.firstFrameMs ?? -1) >= 0, null, {
      timeout: 20_000,
    });
    return await page.evaluate(() => window.stampViewer?.firstFrameMs ?? Number.NaN);
  } catch {
    return undefined;
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

export async function benchGlassToGlass(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) {
      await step().catch((error: unknown) => console.error('g2g cleanup step failed', error));
    }
  };
  try {
    await run(cleanups);
  } finally {
    await cleanup();
  }
}

async function run(cleanups: Array<() => Promise<unknown>>): Promise<void> {
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  // The production grace period (the e2e stack shortens it to 2 s for its reflow test); a
  // camera declared lost would end the cut to it half-way through a window.
  const edgeDir = await mkdtemp(path.join(tmpdir(), 'montage-g2g-edge-'));
  cleanups.push(() => rm(edgeDir, { recursive: true, force: true }));
  const edge = await TestEdge.start({
    prefix: edgeDir,
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
  });
  cleanups.push(() => edge.stop());
  const stack: Stack = await setup('embedded', {
    MONTAGE_CAMERA_GRACE_MS: '3000',
    MONTAGE_EDGE_SECRET: EDGE_SECRET,
    MONTAGE_LOCAL_EDGE: 'false',
    MONTAGE_EDGES: `g2g=${edge.publicUrl}|${edge.ingestUrl}`,
  });
  cleanups.push(() => stack.teardown());
  const { app } = stack;
  const defaults = await DefaultsHls.start();
  cleanups.push(() => defaults.stop());
  // The origin pushes the program to this nginx as it does to the edge: the same RTMP stream.
  stack.delivery.origin.addEdge(ANCHOR_EDGE, defaults.ingestUrl);
  cleanups.push(() => Promise.resolve(stack.delivery.origin.removeEdge(ANCHOR_EDGE)));
  const plain = await startWatchPage();
  cleanups.push(() => plain.close());

  const created = await request(`${app.url}/api/assemblies`, 'POST', stack.operatorToken, {
    name: 'Glass to glass',
    live: true,
  });
  if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
  const assemblyId = (created.body as { assembly: { id: string } }).assembly.id;

  const cameraBrowser = await launchChromium();
  cleanups.push(() => cameraBrowser.close());
  const viewerBrowser = await launchChromium();
  cleanups.push(() => viewerBrowser.close());

  // The camera: the real page, publishing the stamp canvas.
  const cameraContext = await cameraBrowser.newContext();
  await cameraContext.addInitScript({ content: pageScript(stampCamera, CAMERA) });
  const camera = await cameraContext.newPage();
  await camera.goto(
    `${app.url}/camera/${assemblyId}?token=${mintToken(app, assemblyId, 'camera')}`,
  );
  await camera.waitForSelector('#publish-state[data-state="live"]', { timeout: 30_000 });
  process.stdout.write('  camera live\n');

  // The phases that need no cut come first, so that nothing a cut does to the program (a new
  // GOP, a discontinuity in the HLS) is in their figures.

  // (2) HLS: the watch page on our edge, next to a plain hls.js page on nginx-rtmp's defaults.
  const viewerToken = mintToken(app, assemblyId, 'viewer');
  await waitUntilLive(app.url, assemblyId, viewerToken);
  // The edge's live playlist of the source, for the plain page on our edge.
  const playlistUrl = edge.hlsUrl(assemblyId, 'live.m3u8');
  await printCodecs(stack, assemblyId);
  const defaultsPlaylist = defaults.playlistUrl(assemblyId);
  const watchUrl = `${app.url}/watch/${assemblyId}?token=${viewerToken}`;
  // Pages open once their playlist lists a few fragments: the steady state is measured here,
  // not how a page copes with a stream that is still starting (the plain page gives up on a
  // missing playlist; the watch page retries after 2 s).
  await waitForText(playlistUrl, (body) => fragments(body).length >= 3, 60_000);
  const watch = await openProbed(viewerBrowser, watchUrl);
  // nginx-rtmp's default fragments are 5 s (cut at the next keyframe): a wait of 10-20 s.
  await waitForText(defaultsPlaylist, (body) => fragments(body).length >= 2, 90_000);
  const plainDefaults = await openProbed(viewerBrowser, plain.url, {
    autoplaySrc: defaultsPlaylist,
  });
  await waitForSamples(watch.page, 30, 60_000, 'watch page');
  await waitForSamples(plainDefaults.page, 30, 60_000, 'hls.js on nginx-rtmp defaults');
  // hls.js settles on its live position over the first fragments.
  await sleep(SETTLE_MS);
  process.stdout.write(`  HLS for ${HLS_SECONDS} s\n`);
  const [hls, hlsAnchor] = await measure([watch.page, plainDefaults.page], HLS_SECONDS);
  await watch.context.close();
  await plainDefaults.context.close();

  // (3) Opening the watch page: navigation start → first frame, the kinds of page alternating.
  process.stdout.write(`  first frame, ${OPENS} opens per page\n`);
  const kinds = [
    { url: watchUrl, src: undefined, times: [] as number[], stuck: 0 },
    { url: plain.url, src: defaultsPlaylist, times: [] as number[], stuck: 0 },
    { url: plain.url, src: playlistUrl, times: [] as number[], stuck: 0 },
  ];
  for (let i = 0; i < OPENS; i++) {
    for (const kind of i % 2 === 0 ? kinds : [...kinds].reverse()) {
      const ms = await firstFrameMs(viewerBrowser, kind.url, kind.src);
      if (ms === undefined) kind.stuck += 1;
      else kind.times.push(ms);
    }
  }

  // (1) The studio's monitor, next to the direct WebRTC anchor.
  const studio = await openProbed(
    viewerBrowser,
    `${app.url}/studio/${assemblyId}?token=${mintToken(app, assemblyId, 'presenter')}`,
  );
  const direct = await openProbed(viewerBrowser, plain.url);
  await connectDirect(camera, direct.page);
  await waitForSamples(studio.page, 30, 60_000, 'studio monitor');
  await waitForSamples(direct.page, 30, 60_000, 'direct WebRTC anchor');
  await sleep(SETTLE_MS);
  process.stdout.write(`  monitor: composite for ${MONITOR_SECONDS} s\n`);
  const [composite, compositeAnchor] = await measure([studio.page, direct.page], MONITOR_SECONDS);

  // The cut, with the studio's own button.
  await studio.page.click('#camera-sources button[data-camera]');
  await studio.page.waitForSelector('#camera-sources button[aria-pressed="true"]');
  await sleep(SETTLE_MS);
  process.stdout.write(`  monitor: cut to the camera for ${CUT_SECONDS} s\n`);
  const [cut, cutAnchor] = await measure([studio.page, direct.page], CUT_SECONDS);
  const stillCut = await studio.page.$('#camera-sources button[aria-pressed="true"]');
  const cameraState = await camera.$eval('#publish-state', (element) =>
    element instanceof HTMLElement ? (element.dataset.state ?? '') : '',
  );
  const cutNote =
    stillCut === null
      ? `the program left the camera during the cut window (the server declared the camera ` +
        `lost; the camera page's publish state is now "${cameraState}")`
      : undefined;
  await studio.context.close();
  await direct.context.close();
  await camera.evaluate(() =>
    (window as unknown as { directPeer?: RTCPeerConnection }).directPeer?.close(),
  );

  // Reports
  console.log(`  ${describe('watch page (hls.js, multivariant, our edge)', hls, HLS_SECONDS)}`);
  console.log(`  ${describe('plain hls.js, nginx-rtmp defaults', hlsAnchor, HLS_SECONDS)}`);
  console.log(`  ${describe('studio monitor, composite', composite, MONITOR_SECONDS)}`);
  console.log(
    `  ${describe('direct WebRTC anchor, same window', compositeAnchor, MONITOR_SECONDS)}`,
  );
  console.log(`  ${describe('studio monitor, cut to the camera', cut, CUT_SECONDS)}`);
  console.log(`  ${describe('direct WebRTC anchor, same window', cutAnchor, CUT_SECONDS)}`);
  if (cutNote !== undefined) console.log(`  ${cutNote}`);
  const [oursFirst, defaultsFirst, edgeFirst] = kinds;
  for (const [name, kind] of [
    ['watch page, our edge', oursFirst],
    ['plain hls.js, nginx-rtmp defaults', defaultsFirst],
    ['plain hls.js, our edge', edgeFirst],
  ] as const) {
    console.log(
      `  first frame, ${name}: ${kind?.times.length ?? 0} opens showed a frame, ` +
        `${kind?.stuck ?? 0} none within 20 s`,
    );
  }
  console.log(
    `  load average (1 min) ${loadAtStart.toFixed(1)} at the start, ` +
      `${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, on ${cpus().length} cores`,
  );

  printComparison(
    'Glass to glass, camera page → studio monitor (WebRTC), one 640x360@30 camera; ' +
      `${MONITOR_SECONDS} s on the composite, ${CUT_SECONDS} s cut to the camera ` +
      '(anchor = the same canvas track sent straight to a Chromium page over WebRTC, same window)',
    [
      ...rows('composite', composite, compositeAnchor, { p95: '≤ 150 ms' }),
      ...rows('camera cut', cut, cutAnchor, { p95: '≤ 150 ms' }),
    ],
  );
  printComparison(
    `Glass to glass, camera page → HLS page, ${HLS_SECONDS} s (ours = the /watch page on the ` +
      'multivariant playlist, steered to the edge; anchor = the same RTMP program into nginx-rtmp with HLS defaults, 5 s ' +
      'fragments, played by a plain hls.js page, liveSyncDurationCount 2, same window)',
    rows('HLS', hls, hlsAnchor, { p50: '≤ 3000 ms' }),
  );
  const oursTimes = oursFirst?.times ?? [];
  const firstRows = (anchor: readonly number[]): ComparisonRow[] => [
    { metric: 'first frame p50', ours: median(oursTimes), anchor: median(anchor), unit: 'ms' },
    {
      metric: 'first frame p95',
      ours: percentile(oursTimes, 95),
      anchor: percentile(anchor, 95),
      unit: 'ms',
      goal: '≤ 1000 ms',
    },
  ];
  printComparison(
    `Opening the /watch page: navigation start → first presented frame, ${oursTimes.length} ` +
      'fresh opens (anchor = a plain hls.js page on nginx-rtmp defaults, ' +
      `${defaultsFirst?.times.length ?? 0} opens)`,
    firstRows(defaultsFirst?.times ?? []),
  );
  printComparison(
    `The same, anchor = a plain hls.js page on our edge (${edgeFirst?.times.length ?? 0} ` +
      "opens): the watch page's own cost",
    firstRows(edgeFirst?.times ?? []),
  );

  // The run fails, after printing what it measured, when a path showed no working picture.
  const broken = [
    ['watch page', hls],
    ['plain hls.js page on nginx-rtmp defaults', hlsAnchor],
    ['studio monitor on the composite', composite],
    ['studio monitor cut to the camera', cut],
    ['direct WebRTC anchor', compositeAnchor],
  ] as const;
  const failures = broken
    .filter(([, result]) => usable(result).length === 0)
    .map(([what, result]) => `${what} (${result?.latencies.length ?? 0} stamps)`);
  if (oursTimes.length === 0) failures.push('the watch page never showed a first frame');
  if (failures.length > 0) {
    throw new Error(
      `g2g: too few stamps read on: ${failures.join(', ')}${cutNote ? `; ${cutNote}` : ''}`,
    );
  }
}

/** Waits until the watch API says the program (with its renditions) is live. */
async function waitUntilLive(appUrl: string, assemblyId: string, token: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const where = await request(`${appUrl}/api/assemblies/${assemblyId}/watch`, 'GET', token);
    const body = where.body as { live?: boolean } | undefined;
    if (where.status === 200 && body?.live === true) return;
    if (Date.now() > deadline)
      throw new Error(`the program never went live: ${JSON.stringify(where)}`);
    await sleep(250);
  }
}

/** What ffprobe finds in the program and its 360p rendition, next to the declared CODECS. */
async function printCodecs(stack: Stack, assemblyId: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'montage-g2g-probe-'));
  try {
    for (const [rendition, stream] of [
      [SOURCE_RENDITION, assemblyId],
      [LOW_RENDITION, `${assemblyId}_360p`],
    ] as const) {
      const file = path.join(dir, `${rendition.stableId}.flv`);
      await captureStream(stack.delivery.origin.playUrl(streamName(stream)), file, 2);
      const info = await streamInfo(file);
      console.log(
        `  ${rendition.stableId} on the origin: ${info.codec} ${info.profile} level ` +
          `${info.level}, ${info.width}x${info.height} at ${info.frameRate}, ${info.audio ?? 'no audio'}` +
          `; declared CODECS="${rendition.codecs}" RESOLUTION=${rendition.width}x${rendition.height}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
