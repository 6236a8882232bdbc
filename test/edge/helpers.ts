import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { NginxEdge, type NginxEdgeOptions } from '../../server/edges/NginxEdge.js';
import type { HlsPath } from '../../server/edges/probeEdge.js';
import { HlsSigner } from '../../server/hls/HlsSigner.js';
import { RtmpOrigin, type EdgeId } from '../../server/origin/RtmpOrigin.js';
import { freePort, REPO_ROOT } from '../helpers/engineProcess.js';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { PALETTE, classify, type PaletteName, type Quadrants } from '../helpers/media.js';
import { sampleVideo } from '../helpers/pixels.js';

export const EDGE_SECRET = 'test-edge-secret-0123456789';

/** Signs HLS paths for edges rendered with EDGE_SECRET, as the app's registry does for probes. */
export const SIGNED_HLS_PATH: HlsPath = (stream, file) =>
  new HlsSigner({ edgeSecret: EDGE_SECRET, ttlSeconds: 3600 }).path(stream, file);

/** An origin with one local edge registered, as the app server wires them. */
export interface MediaStack {
  origin: RtmpOrigin;
  edge: NginxEdge;
  teardown(): Promise<void>;
}

/** Render options a test may set on its edge; the rest (ports, prefix, secret) are chosen. */
export type TestEdgeOptions = Partial<
  Omit<NginxEdgeOptions, 'prefix' | 'httpPort' | 'rtmpPort' | 'edgeSecret'>
>;

/** A local edge in its own temporary prefix, on free ports, not started. */
export async function newTestEdge(options: TestEdgeOptions = {}): Promise<NginxEdge> {
  return new NginxEdge({
    prefix: await mkdtemp(path.join(tmpdir(), 'montage-edge-')),
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
    // nginx as root would run its workers as nobody, who cannot write the test's HLS folder.
    user: process.getuid?.() === 0 ? 'root' : undefined,
    ...options,
  });
}

export async function startMediaStack(
  edgeOptions: TestEdgeOptions = {},
  originOptions: { publishGraceMs?: number } = {},
): Promise<MediaStack> {
  const origin = new RtmpOrigin({
    port: await freePort(),
    edgeSecret: EDGE_SECRET,
    publishGraceMs: originOptions.publishGraceMs,
  });
  await origin.start();
  const edge = await newTestEdge(edgeOptions);
  const prefix = edge.prefix;
  try {
    await edge.start();
  } catch (error) {
    await origin.stop();
    throw error;
  }
  origin.addEdge('local' as EdgeId, edge.ingestUrl);
  return {
    origin,
    edge,
    teardown: async () => {
      await origin.stop();
      await stopTestEdge(edge);
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

/** A playlist agent process (server/edges/edgeAgent.ts) found in /proc. */
export interface AgentProcess {
  pid: number;
  ppid: number;
  stream: string;
}

/** The playlist agents running for the edge in `prefix`, found by their command lines. */
export async function agentProcesses(prefix: string): Promise<AgentProcess[]> {
  const found: AgentProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = argv.split('\0');
    if (!args.some((arg) => arg.endsWith('edgeAgent.js'))) continue;
    if (args[args.indexOf('--hls-dir') + 1] !== path.join(prefix, 'hls')) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    found.push({
      pid: Number(entry),
      ppid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      stream: args[args.indexOf('--stream') + 1] ?? '',
    });
  }
  return found;
}

/**
 * Stops a test's edge and waits until its playlist agents are gone too (they exit when their
 * nginx worker does), so the test leaves no process behind and may delete the prefix.
 */
export async function stopTestEdge(edge: NginxEdge): Promise<void> {
  await edge.stop();
  const deadline = Date.now() + 10_000;
  let left = await agentProcesses(edge.prefix);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = await agentProcesses(edge.prefix);
  }
  for (const agent of left) process.kill(agent.pid, 'SIGKILL');
  if (left.length > 0) throw new Error(`playlist agents outlived nginx: ${JSON.stringify(left)}`);
}

/** How a test publisher's program clock runs: shifted, and with a jump at some point. */
export interface TestClock {
  /** Added to the wall clock throughout (negative: a publisher whose clock is behind). */
  shiftMs?: number;
  /**
   * From `atSeconds` of media on, the clock is `byMs` later: an outage, seen downstream. The
   * audio's clock jumps by `audioByMs` when given (a burst after a stall in which the video
   * came first).
   */
  jump?: { atSeconds: number; byMs: number; audioByMs?: number };
}

/**
 * Timestamps that follow the program clock, as the program bridge's do: each stream starts at
 * the program timestamp of the wall-clock instant its filter starts (plus the test's shift) and
 * advances with its frames, which the realtime filters release at that pace.
 */
function programClockPts(clock: TestClock, kind: 'video' | 'audio'): string {
  const byMs = kind === 'audio' ? (clock.jump?.audioByMs ?? clock.jump?.byMs) : clock.jump?.byMs;
  const jump =
    clock.jump === undefined
      ? ''
      : `+if(gte(T\\,${clock.jump.atSeconds})\\,${Math.round(byMs ?? 0)}\\,0)`;
  const ms = `RTCSTART/1000+${Math.round(clock.shiftMs ?? 0)}${jump}`;
  return `setpts='PTS-STARTPTS+mod(${ms}\\,2147483648)/1000/TB'`;
}

function quadrantSource(
  quadrants: Quadrants,
  options: { clock?: TestClock } = {},
  width = 640,
  height = 360,
  fps = 30,
): string {
  const clock = options.clock;
  const video =
    clock === undefined ? 'realtime' : `realtime,settb=1/1000,${programClockPts(clock, 'video')}`;
  const audio = clock === undefined ? 'arealtime' : `arealtime,a${programClockPts(clock, 'audio')}`;
  const inputs = quadrants
    .map((name, i) => {
      const { r, g, b } = PALETTE[name];
      const hex = [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
      return `color=c=0x${hex}:s=${width / 2}x${height / 2}:r=${fps}[q${i}]`;
    })
    .join(';');
  return `${inputs};[q0][q1]hstack[top];[q2][q3]hstack[bottom];[top][bottom]vstack,format=yuv420p,${video}[v];sine=frequency=440:sample_rate=48000:samples_per_frame=960,${audio}[a]`;
}

/** An ffmpeg the test started; `stop()` is safe to call twice. */
export interface TestProcess {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export function spawnTestProcess(command: string, args: string[]): TestProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    child,
    stderr: () => stderr,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Publishes a live test picture (four coloured quadrants, 440 Hz tone) as H.264 with a 1 s
 * GOP + AAC over RTMP, the way the program bridge does. Its timestamps follow the program clock
 * (server/hls/programClock.ts) as the bridge's do: media is stamped with the wall clock when it
 * is produced (see `TestClock` for the faults a test can add).
 */
export function publishQuadrants(
  url: string,
  quadrants: Quadrants,
  options: { gopFrames?: number; clock?: TestClock; plain?: boolean } = {},
): TestProcess {
  const gopFrames = options.gopFrames ?? 30;
  // `plain`: timestamps from 0, as any ffmpeg publishes (a rogue publisher, say).
  const clock = options.plain === true ? undefined : (options.clock ?? {});
  return spawnTestProcess('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-filter_complex',
    quadrantSource(quadrants, { clock }),
    '-map',
    '[v]',
    '-map',
    '[a]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    String(gopFrames),
    '-keyint_min',
    String(gopFrames),
    '-sc_threshold',
    '0',
    '-c:a',
    'aac',
    '-f',
    'flv',
    url,
  ]);
}

/**
 * Sends the same picture as RTP the way the media server's RtpEndpoint does: H.264 (SPS/PPS
 * repeated in-band at every keyframe) and Opus, each to its own port.
 */
export function sendRtpQuadrants(
  quadrants: Quadrants,
  ports: { videoPort: number; audioPort: number },
): TestProcess {
  return spawnTestProcess('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-filter_complex',
    quadrantSource(quadrants),
    '-map',
    '[v]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-bsf:v',
    'dump_extra',
    '-payload_type',
    '96',
    '-f',
    'rtp',
    `rtp://127.0.0.1:${ports.videoPort}`,
    '-map',
    '[a]',
    '-c:a',
    'libopus',
    '-payload_type',
    '97',
    '-f',
    'rtp',
    `rtp://127.0.0.1:${ports.audioPort}`,
  ]);
}

/**
 * Free even UDP ports whose successors (RTCP) are free too. The kernel's port-0 choice is
 * always odd on Linux, so candidates are drawn at random and tried with real UDP binds.
 */
export async function freeEvenPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const canBind = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
  while (ports.length < count) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 10_000);
    if (ports.includes(port)) continue;
    if ((await canBind(port)) && (await canBind(port + 1))) ports.push(port);
  }
  return ports;
}

/** Polls `url` until its body satisfies `accept`; returns the body. */
export async function waitForText(
  url: string,
  accept: (body: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      last = `${response.status} ${await response.text()}`;
      if (response.ok && accept(last.slice(4))) return last.slice(4);
    } catch (error) {
      last = String(error);
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${url}; last answer: ${last.slice(0, 500)}`);
}

/** Fragment names listed in a playlist, in order. */
export function fragments(playlist: string): string[] {
  return playlist.split('\n').filter((line) => line.endsWith('.ts'));
}

/** One segment of a media playlist as a player reads it. */
export interface ListedSegment {
  name: string;
  durationMs: number;
  /** EXT-X-PROGRAM-DATE-TIME in Unix ms, or undefined when the segment has none. */
  dateMs: number | undefined;
  discontinuity: boolean;
}

/**
 * A media playlist read the way a player does (written here independently of the agent's own
 * parser, so the tests check the agent's output rather than agree with it).
 */
export function readPlaylist(text: string): {
  tags: Map<string, string>;
  segments: ListedSegment[];
} {
  const tags = new Map<string, string>();
  const segments: ListedSegment[] = [];
  let durationMs = Number.NaN;
  let dateMs: number | undefined;
  let discontinuity = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXTINF:')) {
      durationMs = Math.round(Number.parseFloat(line.slice(8)) * 1000);
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      dateMs = Date.parse(line.slice(25));
    } else if (line === '#EXT-X-DISCONTINUITY') {
      discontinuity = true;
    } else if (line.startsWith('#EXT')) {
      const colon = line.indexOf(':');
      if (colon > 0) tags.set(line.slice(1, colon), line.slice(colon + 1));
      else tags.set(line.slice(1), '');
    } else if (line !== '' && !line.startsWith('#')) {
      segments.push({ name: line, durationMs, dateMs, discontinuity });
      durationMs = Number.NaN;
      dateMs = undefined;
      discontinuity = false;
    }
  }
  return { tags, segments };
}

/**
 * A tiny watch page on its own port (so the edge's CORS headers are exercised) that plays a
 * playlist with the repository's hls.js and exposes the first-frame time; `sampleQuadrants`
 * reads its picture.
 */
export async function startWatchPage(): Promise<{ url: string; close(): Promise<void> }> {
  const hlsJs = await readFile(path.join(REPO_ROOT, 'node_modules/hls.js/dist/hls.min.js'));
  const html = `<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline width="640" height="360"></video>
<script src="/hls.min.js"></script>
<script>
window.firstFrameAt = 0;
window.hlsErrors = [];
window.play = (src) => {
  const video = document.getElementById('v');
  window.playStartedAt = performance.now();
  const hls = new Hls({ liveSyncDurationCount: 2 });
  hls.on(Hls.Events.ERROR, (_e, data) => { window.hlsErrors.push(data.details + (data.fatal ? ' (fatal)' : '')); });
  hls.loadSource(src);
  hls.attachMedia(video);
  video.play().catch(() => {});
  const onFrame = () => { window.firstFrameAt = performance.now(); };
  video.requestVideoFrameCallback(onFrame);
  window.hls = hls;
};
</script></body></html>`;
  const server: Server = createServer((request, response) => {
    if (request.url === '/hls.min.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(hlsJs);
    } else {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(html);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Opens the watch page, plays `playlistUrl` and resolves with ms from play() to first frame. */
export async function playInPage(
  browser: Browser,
  pageUrl: string,
  playlistUrl: string,
): Promise<{ page: Page; firstFrameMs: number }> {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.evaluate((src) => {
    (window as unknown as { play(src: string): void }).play(src);
  }, playlistUrl);
  await page.waitForFunction(
    () => (window as unknown as { firstFrameAt: number }).firstFrameAt > 0,
    null,
    {
      timeout: 20_000,
    },
  );
  const firstFrameMs = await page.evaluate(() => {
    const w = window as unknown as { firstFrameAt: number; playStartedAt: number };
    return w.firstFrameAt - w.playStartedAt;
  });
  return { page, firstFrameMs };
}

/** Classifies the centre of each quadrant of the playing video. */
export async function sampleQuadrants(page: Page): Promise<PaletteName[]> {
  return (await sampleVideo(page, '#v', QUADRANT_CENTRES)).map(classify);
}

/** Waits until the video shows `expected`, sampling repeatedly (a first frame may be grey). */
export async function waitForQuadrants(
  page: Page,
  expected: Quadrants,
  timeoutMs = 10_000,
): Promise<PaletteName[]> {
  const deadline = Date.now() + timeoutMs;
  let seen: PaletteName[] = [];
  while (Date.now() < deadline) {
    // Before the first decoded frame there is nothing to read yet: try again.
    seen = await sampleQuadrants(page).catch(() => []);
    if (seen.length === expected.length && seen.every((name, i) => name === expected[i])) {
      return seen;
    }
    await sleep(200);
  }
  return seen;
}

/** Current playback position of the page's video, and whether it advances. */
export async function currentTime(page: Page): Promise<number> {
  return page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
}
