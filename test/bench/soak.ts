/**
 * `npm run bench -- soak`: one assembly run for a long time the way a school runs it, to show
 * that nothing accumulates (issue 12, item 7). Four Chromium cameras with distinct fake
 * pictures (red, green, blue, magenta), the presenter's WebRTC program monitor, a moderator
 * cutting every 30 s (composite → camera 1 → composite → camera 2 …), a library clip of 20 s
 * (made by ffmpeg at start) cut every 5 minutes instead of a camera (the app cuts back when it
 * ends), a real hls.js watch page open all along, and a second watch page that joins and
 * leaves every 30 s (a fresh invite link, a fresh browser context each time).
 *
 * The app runs as a child process (test/bench/soakStack.ts: test/e2e/stack.ts's `setup()`,
 * with the engine supervised as its own child, as `npm start` runs them), so its memory and
 * file descriptors are its own, not the bench's browsers' drivers. Every 30 s the bench reads,
 * from /proc, VmRSS and the number of open file descriptors of the app, the engine, each
 * pipeline worker, and the app's other children (nginx of the edge, ffmpeg of the RTMP bridge
 * and the renditions), plus the app's V8 heap over IPC.
 *
 * Figures:
 * - Start and end of each process: the median of the first 3 and of the last 3 samples (the
 *   shared machine is noisy). The anchor of each row is the process's own start figure, since
 *   the goal is flatness: end / start ≤ 1.10 (PASS/FAIL). Sampling starts after a warm-up that
 *   exercises every kind of cut once (each camera, the clip and back, a viewer joining and
 *   leaving), so one-time costs (decoders loaded, buffers pools filled) are not taken for a
 *   leak; samples fall midway between cuts, with the rotating viewer gone.
 * - Dropped program frames, from the HLS the viewers get: the video packets of every fragment
 *   of the source rendition (history.m3u8 on the edge, probed with ffprobe as the run goes). The
 *   program's timestamps are the wall clock at arrival, so the frames a span of program should
 *   hold are its length × 30 fps; while the program is the composite (force-live at a constant
 *   30 fps in the engine) every missing frame was dropped on the way (mixer, encoder, bridge).
 *   Fragments within 1 s of a cut are left out of that count; gaps over 200 ms (a freeze a
 *   viewer sees) are counted over every fragment, whatever the source.
 * - Stalls of the real player: the always-open watch page's 'waiting' → 'playing' intervals
 *   (test/e2e/WatchViewer.ts), their count and total time over the measured run.
 * - The presenter monitor's WebRTC receive stats (frames dropped by its decoder, freezes),
 *   as a second, receiver-side view of the program.
 *
 * Knobs (environment): SOAK_MINUTES, the measured run (default 30; the warm-up and setup add
 * about 3 minutes); SOAK_OUT_DIR, where samples.json, samples.csv, frames.json (every probed
 * fragment's video packet times) and the app's log go
 * (default a new montage-soak-* folder in the temp dir; kept after the run).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import type { CutRequest, ProgramWire } from '../../server/signaling/events.js';
import { CameraClient } from '../e2e/CameraClient.js';
import {
  colourPoint,
  connectPage,
  gridTiles,
  makeCameraVideo,
  supervisedEnginePid,
  until,
  welcomed,
} from '../e2e/drivers.js';
import { MonitorClient } from '../e2e/MonitorClient.js';
import { call, type Client } from '../e2e/stack.js';
import { WatchViewer } from '../e2e/WatchViewer.js';
import { launchChromium } from '../helpers/browser.js';
import { REPO_ROOT, workerPids } from '../helpers/engineProcess.js';
import { fetchPlaylist, type ListedFragment } from '../helpers/hlsPlaylist.js';
import { makeQuadrantClip, type PaletteName } from '../helpers/media.js';
import { request, tokenOf } from '../server/appHelpers.js';
import type { SoakStackCommand, SoakStackReply } from './soakStack.js';
import { median, printComparison } from './stats.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const PERIOD_MS = 30_000;
/** Every tenth cut (every 5 minutes) is to the clip instead of a camera. */
const CLIP_EVERY = 10;
const CLIP_SECONDS = 20;
const CLIP_FILE = 'soak-clip.mp4';
const COLOURS: readonly PaletteName[] = ['red', 'green', 'blue', 'magenta'];
const CLIP_COLOUR: PaletteName = 'yellow';
/** The goal: end / start within 10 %. */
const FLAT = 1.1;
const PROGRAM_FPS = 30;
/** A frame gap a viewer sees as a freeze. */
const FREEZE_MS = 200;
/** Fragments probed by one ffprobe. */
const PROBE_BATCH = 30;
/** How long the end of the run waits for the fragments not yet probed. */
const ANALYSIS_LIMIT_MS = 180_000;
/** Generous: the machine has two cores shared with other runs. */
const PICTURE_MS = 60_000;
const GRID_POINTS = gridTiles(4).map(colourPoint);
const FULL_POINTS = GRID_POINTS;

interface ProcessSample {
  /** app, engine, worker, or the command name of another child of the app (nginx, ffmpeg). */
  role: string;
  pid: number;
  rssKb: number;
  fds: number;
}

interface Sample {
  /** Seconds since the measured run started. */
  t: number;
  load1: number;
  processes: ProcessSample[];
  appHeapUsedKb: number;
  stalls: number;
  stallMs: number;
  cuts: number;
  cutsNotSeen: number;
  fragments: number;
}

/** One row of /proc: what the process tree walk needs. */
interface ProcEntry {
  pid: number;
  ppid: number;
  comm: string;
}

async function procTable(): Promise<ProcEntry[]> {
  const entries: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      entries.push({
        pid: Number(name),
        ppid: Number(fields[1]),
        comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      });
    } catch {
      // The process ended between readdir and readFile.
    }
  }
  return entries;
}

/** VmRSS (kB) and the number of open file descriptors of `pid`; undefined once it is gone. */
async function usage(pid: number): Promise<{ rssKb: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { rssKb, fds };
  } catch {
    return undefined;
  }
}

/**
 * The app's process tree: the app, its engine, the engine's workers, and every other
 * descendant of the app (nginx master and workers, ffmpeg), by command name.
 */
async function processTree(appPid: number): Promise<Array<{ role: string; pid: number }>> {
  const table = await procTable();
  const enginePid = await supervisedEnginePid(appPid);
  const roles: Array<{ role: string; pid: number }> = [{ role: 'app', pid: appPid }];
  if (enginePid !== undefined) {
    roles.push({ role: 'engine', pid: enginePid });
    for (const pid of await workerPids(enginePid)) roles.push({ role: 'worker', pid });
  }
  const children = new Map<number, ProcEntry[]>();
  for (const entry of table) {
    const list = children.get(entry.ppid) ?? [];
    list.push(entry);
    children.set(entry.ppid, list);
  }
  const walk = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      // The engine's subtree is counted above (its workers) or not at all.
      if (child.pid === enginePid) continue;
      roles.push({ role: child.comm, pid: child.pid });
      walk(child.pid);
    }
  };
  walk(appPid);
  return roles;
}

/**
 * The program's frames in the HLS the viewers get, counted fragment by fragment as the edge
 * lists them (see the file's comment).
 */
class ProgramFrames {
  fragments = 0;
  /** Frames the composite spans should have held, and the frames they held. */
  compositeExpected = 0;
  compositeFrames = 0;
  /** The same over every fragment, whatever the source (cameras send what Chromium encodes). */
  allExpected = 0;
  allFrames = 0;
  freezes = 0;
  longestGapMs = 0;
  /** Freezes that began within 1 s of a cut. */
  freezesAtCuts = 0;
  probeErrors = 0;
  /** Every probed fragment's video packet times, for a later look (written to frames.json). */
  readonly probed: Array<{
    uri: string;
    startMs: number | undefined;
    discontinuity: boolean;
    duration: number;
    pts: number[];
  }> = [];
  #lastPts: number | undefined;
  #nextDateMs: number | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(
    private readonly playlistUrl: string,
    /** What was on the program at a wall-clock instant, and when it last changed around it. */
    private readonly program: ProgramTimeline,
    /** Fragments that start before this instant (Unix ms) are not counted (the warm-up). */
    private readonly fromMs: () => number,
  ) {}

  /** Probes the fragments listed since the last call, one at a time, in the background. */
  update(): Promise<void> {
    this.#running = this.#running.then(() => this.#update()).catch(() => undefined);
    return this.#running;
  }

  async #update(): Promise<void> {
    const playlist = await fetchPlaylist(this.playlistUrl);
    const fresh = playlist.fragments.slice(this.fragments);
    // One ffprobe per batch of fragments (MPEG-TS fragments concatenated are one stream), not
    // one per fragment: on a loaded machine, starting ffprobe for every fragment of 1 s fell
    // behind the live stream.
    for (let i = 0; i < fresh.length; i += PROBE_BATCH) {
      const batch = fresh.slice(i, i + PROBE_BATCH);
      const bodies = await Promise.all(
        batch.map((fragment) =>
          fetch(new URL(fragment.uri, this.playlistUrl), { signal: AbortSignal.timeout(30_000) })
            .then(async (response) =>
              response.ok ? Buffer.from(await response.arrayBuffer()) : undefined,
            )
            .catch(() => undefined),
        ),
      );
      const packets = await videoPackets(Buffer.concat(bodies.map((b) => b ?? Buffer.alloc(0))));
      let offset = 0;
      for (const [index, fragment] of batch.entries()) {
        const body = bodies[index];
        const size = body?.length ?? 0;
        const pts =
          body === undefined || packets === undefined
            ? undefined
            : packets
                .filter((packet) => packet.pos >= offset && packet.pos < offset + size)
                .map((packet) => packet.pts)
                .sort((a, b) => a - b);
        offset += size;
        this.#count(fragment, pts);
        this.fragments += 1;
      }
    }
  }

  /** Counts one fragment's video packets (undefined: it could not be fetched or probed). */
  #count(fragment: ListedFragment, pts: number[] | undefined): void {
    const startMs = fragment.programDateMs ?? this.#nextDateMs;
    this.#nextDateMs = startMs === undefined ? undefined : startMs + fragment.duration * 1000;
    if (pts === undefined) {
      this.probeErrors += 1;
      this.#lastPts = undefined;
      return;
    }
    this.probed.push({
      uri: fragment.uri,
      startMs,
      discontinuity: fragment.discontinuity,
      duration: fragment.duration,
      pts,
    });
    const previous = fragment.discontinuity ? undefined : this.#lastPts;
    this.#lastPts = pts.at(-1) ?? this.#lastPts;
    if (startMs === undefined || startMs < this.fromMs() || pts.length === 0) return;
    const times = previous === undefined ? pts : [previous, ...pts];
    let expected = 0;
    for (let i = 1; i < times.length; i++) {
      const gapS = (times[i] ?? 0) - (times[i - 1] ?? 0);
      expected += gapS * PROGRAM_FPS;
      const gapMs = gapS * 1000;
      this.longestGapMs = Math.max(this.longestGapMs, gapMs);
      if (gapMs > FREEZE_MS) {
        this.freezes += 1;
        const at = startMs + ((times[i - 1] ?? 0) - (pts[0] ?? 0)) * 1000;
        if (this.program.changedWithin(at - 1000, at + gapMs + 1000)) this.freezesAtCuts += 1;
      }
    }
    const frames = times.length - 1;
    this.allExpected += expected;
    this.allFrames += frames;
    const endMs = startMs + fragment.duration * 1000;
    if (
      this.program.at(startMs)?.kind === 'composite' &&
      !this.program.changedWithin(startMs - 1000, endMs + 1000)
    ) {
      this.compositeExpected += expected;
      this.compositeFrames += frames;
    }
  }

  /** How many fragments the playlist lists now. */
  async listed(): Promise<number> {
    return (await fetchPlaylist(this.playlistUrl)).fragments.length;
  }
}

/**
 * The time (s) and byte position of every video packet of an MPEG-TS stream, by ffprobe
 * reading it from its stdin; undefined when ffprobe fails.
 */
async function videoPackets(
  stream: Buffer,
): Promise<Array<{ pts: number; pos: number }> | undefined> {
  const probe = spawn(
    'ffprobe',
    [
      ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,pos'],
      ...['-of', 'csv=p=0', '-i', 'pipe:0'],
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  let output = '';
  probe.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // ffprobe may stop reading early (an error): the write's EPIPE is not ours to report.
  probe.stdin.on('error', () => undefined);
  probe.stdin.end(stream);
  const timer = setTimeout(() => probe.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => probe.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) return undefined;
  // Each line is "pts_time,pos" (MPEG-TS lines may end with a separator).
  return output
    .split('\n')
    .map((line) => line.split(','))
    .map(([pts, pos]) => ({ pts: Number.parseFloat(pts ?? ''), pos: Number(pos) }))
    .filter((packet) => Number.isFinite(packet.pts) && packet.pts > 0 && packet.pos >= 0);
}

/** The program's source over time, from the moderator's `program:changed` events. */
class ProgramTimeline {
  readonly changes: Array<{ at: number; source: ProgramWire }> = [];

  record(source: ProgramWire): void {
    this.changes.push({ at: Date.now(), source });
  }

  at(instant: number): ProgramWire | undefined {
    let found: ProgramWire | undefined;
    for (const change of this.changes) {
      if (change.at <= instant) found = change.source;
      else break;
    }
    return found;
  }

  changedWithin(from: number, to: number): boolean {
    return this.changes.some((change) => change.at >= from && change.at <= to);
  }
}

/** The presenter monitor's inbound video, as Chromium's getStats reports it. */
interface MonitorVideoStats {
  framesReceived: number;
  framesDecoded: number;
  framesDropped: number;
  freezeCount: number;
  totalFreezesDuration: number;
}

function monitorVideoStats(monitor: MonitorClient): Promise<MonitorVideoStats> {
  return monitor.peer.page.evaluate(async () => {
    const reading = {
      framesReceived: 0,
      framesDecoded: 0,
      framesDropped: 0,
      freezeCount: 0,
      totalFreezesDuration: 0,
    };
    const state = window.montagePeer;
    if (state === undefined) return reading;
    (await state.pc.getStats()).forEach((entry: Record<string, unknown>) => {
      if (entry['type'] !== 'inbound-rtp' || entry['kind'] !== 'video') return;
      for (const key of Object.keys(reading) as Array<keyof typeof reading>) {
        const value = entry[key];
        if (typeof value === 'number') reading[key] = value;
      }
    });
    return reading;
  });
}

/** The app child: started, answering over IPC, stopped. */
class SoakApp {
  readonly child: ChildProcess;
  readonly #pending: Array<(reply: SoakStackReply) => void> = [];
  readonly #assemblies: Array<(reply: Extract<SoakStackReply, { type: 'assembly' }>) => void> = [];

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (reply: SoakStackReply) => {
      if (reply.type === 'memory') this.#pending.shift()?.(reply);
      if (reply.type === 'assembly') this.#assemblies.shift()?.(reply);
    });
  }

  static async start(
    logFile: string,
  ): Promise<{ app: SoakApp; ready: Extract<SoakStackReply, { type: 'ready' }> }> {
    const log = openSync(logFile, 'a');
    const child = fork(path.join(REPO_ROOT, 'dist', 'test', 'bench', 'soakStack.js'), [], {
      cwd: REPO_ROOT,
      stdio: ['ignore', log, log, 'ipc'],
    });
    closeSync(log);
    const app = new SoakApp(child);
    const ready = await new Promise<Extract<SoakStackReply, { type: 'ready' }>>(
      (resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the app did not start in 120 s')),
          120_000,
        );
        child.on('message', (reply: SoakStackReply) => {
          if (reply.type === 'ready') resolve(reply);
          if (reply.type === 'failed') reject(new Error(`the app failed: ${reply.error}`));
          if (reply.type === 'ready' || reply.type === 'failed') clearTimeout(timer);
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the app exited with ${String(code)}; see ${logFile}`));
        });
      },
    );
    return { app, ready };
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async heapUsedKb(): Promise<number> {
    const reply = await new Promise<SoakStackReply>((resolve) => {
      this.#pending.push(resolve);
      this.#command({ type: 'memory' });
    });
    return reply.type === 'memory' ? Math.round(reply.heapUsed / 1024) : Number.NaN;
  }

  /** Where an assembly's library clips go, and its history playlist's signed URL. */
  assembly(assemblyId: string): Promise<Extract<SoakStackReply, { type: 'assembly' }>> {
    return new Promise((resolve) => {
      this.#assemblies.push(resolve);
      this.#command({ type: 'assembly', assemblyId });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.#command({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }

  #command(command: SoakStackCommand): void {
    this.child.send(command);
  }
}

/** Resolves at `instant` (Unix ms); at once if it has passed. */
function sleepUntil(instant: number): Promise<void> {
  return sleep(Math.max(0, instant - Date.now())).then(() => undefined);
}

const mb = (kb: number): number => kb / 1024;

export async function benchSoak(): Promise<void> {
  const outDir = process.env.SOAK_OUT_DIR ?? (await mkdtemp(path.join(tmpdir(), 'montage-soak-')));
  await mkdir(outDir, { recursive: true });
  const cameraVideos = await mkdtemp(path.join(tmpdir(), 'montage-soak-cameras-'));
  const logFile = path.join(outDir, 'app.log');
  console.log(`soak: ${MINUTES} min measured; samples and the app's log go to ${outDir}`);

  const { app, ready } = await SoakApp.start(logFile);
  const browsers: Browser[] = [];
  const cameras: CameraClient[] = [];
  let moderator: Client | undefined;
  let monitor: MonitorClient | undefined;
  let viewer: WatchViewer | undefined;
  try {
    // Reached over REST with the operator token, as an operator's panel does.
    const created = await request(`${ready.url}/api/assemblies`, 'POST', ready.operatorToken, {
      name: 'Soak',
      live: true,
    });
    if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created)}`);
    const assembly = created.body as { assembly: { id: string }; moderatorInvite: { url: string } };
    const assemblyId = assembly.assembly.id;
    const invite = async (role: 'camera' | 'presenter' | 'viewer'): Promise<string> => {
      const minted = await request(
        `${ready.url}/api/assemblies/${assemblyId}/invites`,
        'POST',
        ready.operatorToken,
        { role },
      );
      if (minted.status !== 201) throw new Error(`invite failed: ${JSON.stringify(minted)}`);
      return (minted.body as { invite: { url: string } }).invite.url;
    };

    const { libraryFolder, historyUrl } = await app.assembly(assemblyId);
    await mkdir(libraryFolder, { recursive: true });
    const [videos] = await Promise.all([
      Promise.all(COLOURS.map((colour) => makeCameraVideo(cameraVideos, colour))),
      makeQuadrantClip(
        path.join(libraryFolder, CLIP_FILE),
        [CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR, CLIP_COLOUR],
        { seconds: CLIP_SECONDS, container: 'mp4', width: 640, height: 360 },
      ),
    ]);
    for (const video of videos) browsers.push(await launchChromium({ fakeVideoFile: video }));
    const viewerBrowser = await launchChromium();
    browsers.push(viewerBrowser);

    const timeline = new ProgramTimeline();
    const mod = connectPage(ready.url, {
      token: tokenOf(assembly.moderatorInvite.url),
      assembly: assemblyId,
    });
    moderator = mod;
    mod.on('program:changed', ({ source }) => timeline.record(source));
    await welcomed(mod);
    timeline.record({ kind: 'composite' });
    for (const [i, colour] of COLOURS.entries()) {
      const browser = browsers[i];
      if (browser === undefined) throw new Error('no camera browser');
      cameras.push(
        await CameraClient.join({
          url: ready.url,
          token: tokenOf(await invite('camera')),
          assembly: assemblyId,
          browser,
          colour,
        }),
      );
    }
    const program = await MonitorClient.open({
      url: ready.url,
      token: tokenOf(await invite('presenter')),
      assembly: assemblyId,
      browser: viewerBrowser,
    });
    monitor = program;
    await program.waitForColours(GRID_POINTS, COLOURS, PICTURE_MS, 'the four cameras');
    const watcher = await WatchViewer.open(viewerBrowser, await invite('viewer'));
    viewer = watcher;

    /** Cuts, and waits until the monitor shows the new source (false when it never does). */
    let cuts = 0;
    let cutsNotSeen = 0;
    /** Cuts that found the clip still on the air: it had not ended and been cut back from. */
    let clipsStillOn = 0;
    const cutTo = async (step: number): Promise<void> => {
      const clip = step % CLIP_EVERY === CLIP_EVERY - 1;
      const camera = cameras[Math.floor(step / 2) % cameras.length];
      if (camera === undefined) throw new Error('no camera');
      let payload: CutRequest;
      let expected: readonly PaletteName[];
      let what: string;
      if (clip) {
        payload = { source: 'video', file: CLIP_FILE };
        expected = FULL_POINTS.map(() => CLIP_COLOUR);
        what = 'the clip';
      } else if (step % 2 === 0) {
        payload = { source: 'composite' };
        expected = COLOURS;
        what = 'the composite';
      } else {
        payload = { source: 'camera', cameraId: camera.cameraId };
        expected = FULL_POINTS.map(() => camera.colour);
        what = `camera ${camera.colour}`;
      }
      if (timeline.at(Date.now())?.kind === 'video') {
        clipsStillOn += 1;
        console.log(`  cut ${cuts + 1}: the clip is still on the program (no cut back yet)`);
      }
      cuts += 1;
      try {
        await call<ProgramWire>(mod.timeout(30_000).emitWithAck('program:cut', payload));
        await program.waitForColours(FULL_POINTS, expected, 25_000, `cut to ${what}`);
      } catch (error) {
        cutsNotSeen += 1;
        console.log(`  cut ${cuts} to ${what}: ${String(error)}`);
      }
    };
    /** The second viewer: a fresh watch page that plays, then leaves. */
    let rotations = 0;
    let rotationsNotPlaying = 0;
    const rotate = async (leaveAt: number): Promise<void> => {
      rotations += 1;
      let second: WatchViewer | undefined;
      try {
        second = await WatchViewer.open(viewerBrowser, await invite('viewer'));
        const page = second;
        // On a loaded machine the page may take most of its slot to open: it still gets 15 s.
        await until(
          Math.max(15_000, leaveAt - Date.now()),
          async () => ((await page.meter()).currentTime > 0 ? true : undefined),
          () => 'the joining viewer did not play',
          500,
        );
      } catch (error) {
        rotationsNotPlaying += 1;
        console.log(`  viewer ${rotations}: ${String(error)}`);
      }
      await sleepUntil(leaveAt);
      await second?.close().catch(() => undefined);
    };

    // Warm-up: every kind of cut once, the clip until the app cuts back, a viewer in and out.
    console.log('soak: warm-up (each camera, the clip, a viewer joining and leaving)');
    for (let step = 1; step < 8; step += 2) await cutTo(step);
    await cutTo(CLIP_EVERY - 1);
    // On a loaded machine the clip may play slower than real time: a clip still on the air
    // is reported, and the next cut replaces it.
    await until(
      CLIP_SECONDS * 1000 + 2 * PICTURE_MS,
      () => Promise.resolve(timeline.at(Date.now())?.kind === 'video' ? undefined : true),
      () => 'the app did not cut back after the clip',
      500,
    ).catch((error: unknown) => console.log(`  warm-up: ${String(error)}`));
    await cutTo(0);
    await rotate(Date.now() + 15_000);
    cuts = 0;
    cutsNotSeen = 0;
    clipsStillOn = 0;
    rotations = 0;
    rotationsNotPlaying = 0;

    const startedAt = Date.now();
    const frames = new ProgramFrames(historyUrl, timeline, () => startedAt);
    const stalls = new Map<number, number>();
    const monitorBefore = await monitorVideoStats(program);
    const samples: Sample[] = [];
    const sample = async (): Promise<Sample> => {
      const processes: ProcessSample[] = [];
      for (const { role, pid } of await processTree(app.pid)) {
        const used = await usage(pid);
        if (used !== undefined) processes.push({ role, pid, ...used });
      }
      for (const stall of (await watcher.meter()).stalls) stalls.set(stall.from, stall.to);
      void frames.update();
      const now = Date.now();
      const measured = [...stalls].filter(([from]) => from >= startedAt);
      const taken: Sample = {
        t: Math.round((now - startedAt) / 1000),
        load1: loadavg()[0] ?? 0,
        processes,
        appHeapUsedKb: await app.heapUsedKb(),
        stalls: measured.length,
        stallMs: measured.reduce((sum, [from, to]) => sum + ((to === 0 ? now : to) - from), 0),
        cuts,
        cutsNotSeen,
        fragments: frames.fragments,
      };
      samples.push(taken);
      const figure = (role: string): string => {
        const rows = processes.filter((p) => p.role === role);
        const rss = rows.reduce((sum, p) => sum + p.rssKb, 0);
        const fds = rows.reduce((sum, p) => sum + p.fds, 0);
        return `${role} ${mb(rss).toFixed(0)} MB/${fds} fd`;
      };
      console.log(
        `  t=${taken.t}s ${['app', 'engine', 'worker'].map(figure).join(', ')}; ` +
          `stalls ${taken.stalls}; cuts ${cuts} (${cutsNotSeen} not seen); ` +
          `fragments ${taken.fragments}; load ${taken.load1.toFixed(1)}`,
      );
      return taken;
    };

    // The measured run: a sample at the start of every 30 s period, the second viewer from
    // +5 s to +25 s, the cut at +15 s.
    const periods = Math.max(1, Math.round((MINUTES * 60_000) / PERIOD_MS));
    for (let period = 0; period < periods; period++) {
      const base = startedAt + period * PERIOD_MS;
      await sleepUntil(base);
      await sample();
      await sleepUntil(base + 5_000);
      const rotation = rotate(base + 25_000);
      await sleepUntil(base + 15_000);
      await cutTo(period + 1);
      await rotation;
    }
    await sleepUntil(startedAt + periods * PERIOD_MS);
    const last = await sample();
    const monitorAfter = await monitorVideoStats(program);
    // The probes go on in the background; the run does not wait for them for ever.
    const listed = await frames.listed().catch(() => Number.NaN);
    await Promise.race([frames.update(), sleep(ANALYSIS_LIMIT_MS)]);

    // Start and end per process: medians of the first and last three samples.
    const head = samples.slice(0, 3);
    const tail = samples.slice(-3);
    const figureOf = (
      chosen: Sample[],
      select: (p: ProcessSample) => boolean,
      field: 'rssKb' | 'fds',
    ): number =>
      median(chosen.map((s) => s.processes.filter(select).reduce((sum, p) => sum + p[field], 0)));
    const rows: Array<{ name: string; select: (p: ProcessSample) => boolean; goal: boolean }> = [
      { name: 'app', select: (p) => p.role === 'app', goal: true },
      { name: 'engine', select: (p) => p.role === 'engine', goal: true },
    ];
    // A worker that was not there at both ends (a restart) is shown, but only the sum of the
    // workers is held to the goal then.
    const workerPidsSeen = new Set(
      samples.flatMap((s) => s.processes.filter((p) => p.role === 'worker').map((p) => p.pid)),
    );
    const present = (chosen: Sample[], pid: number): boolean =>
      chosen.every((s) => s.processes.some((p) => p.pid === pid));
    for (const pid of workerPidsSeen) {
      rows.push({
        name: `worker ${pid}`,
        select: (p) => p.role === 'worker' && p.pid === pid,
        goal: present(head, pid) && present(tail, pid),
      });
    }
    if (workerPidsSeen.size > 1) {
      rows.push({ name: 'workers (all)', select: (p) => p.role === 'worker', goal: true });
    }
    const others = new Set(
      samples.flatMap((s) =>
        s.processes.map((p) => p.role).filter((r) => !['app', 'engine', 'worker'].includes(r)),
      ),
    );
    for (const role of others) {
      rows.push({ name: `${role} (all)`, select: (p) => p.role === role, goal: false });
    }
    const verdict = (ratio: number, goal: boolean): string =>
      !goal
        ? 'info'
        : ratio <= FLAT
          ? `PASS (≤ ${FLAT.toFixed(2)}x)`
          : `FAIL (≤ ${FLAT.toFixed(2)}x)`;
    const results: Array<{ metric: string; start: number; end: number; pass: boolean | null }> = [];
    const comparison = (field: 'rssKb' | 'fds') =>
      rows.map((row) => {
        const start = figureOf(head, row.select, field);
        const end = figureOf(tail, row.select, field);
        const scale = field === 'rssKb' ? mb : (x: number) => x;
        results.push({
          metric: `${row.name} ${field === 'rssKb' ? 'RSS' : 'fds'}`,
          start,
          end,
          pass: row.goal ? end / start <= FLAT : null,
        });
        return {
          metric: `${row.name} ${field === 'rssKb' ? 'RSS' : 'open fds'}`,
          ours: scale(end),
          anchor: scale(start),
          unit: field === 'rssKb' ? 'MB' : 'fd',
          goal: verdict(end / start, row.goal),
        };
      });
    const heapStart = median(head.map((s) => s.appHeapUsedKb));
    const heapEnd = median(tail.map((s) => s.appHeapUsedKb));
    printComparison(
      `Soak, ${MINUTES} min: each process at the end (median of the last 3 samples) next to its ` +
        `own start (anchor: median of the first 3 samples, taken after the warm-up); ` +
        `goal end/start ≤ ${FLAT}`,
      [
        ...comparison('rssKb'),
        ...comparison('fds'),
        {
          metric: 'app V8 heap used',
          ours: mb(heapEnd),
          anchor: mb(heapStart),
          unit: 'MB',
          goal: 'info',
        },
      ],
    );
    const compositeDropped = Math.max(0, frames.compositeExpected - frames.compositeFrames);
    const allDropped = Math.max(0, frames.allExpected - frames.allFrames);
    const percent = (part: number, whole: number): string =>
      whole > 0 ? `${((100 * part) / whole).toFixed(2)} %` : 'n/a';
    console.log(
      `\nprogram frames in the HLS (${frames.fragments} of ${listed} fragments probed, ` +
        `${frames.probeErrors} probe errors):\n` +
        `  while on the composite (constant ${PROGRAM_FPS} fps): ${Math.round(compositeDropped)} ` +
        `dropped of ${Math.round(frames.compositeExpected)} (${percent(compositeDropped, frames.compositeExpected)})\n` +
        `  every source: ${Math.round(allDropped)} short of ${PROGRAM_FPS} fps of ` +
        `${Math.round(frames.allExpected)} (${percent(allDropped, frames.allExpected)}; a camera ` +
        `sends what Chromium's encoder makes of its 30 fps on a loaded machine)\n` +
        `  freezes over ${FREEZE_MS} ms: ${frames.freezes} (${frames.freezesAtCuts} within 1 s ` +
        `of a cut), longest frame gap ${frames.longestGapMs.toFixed(0)} ms`,
    );
    console.log(
      `presenter monitor (WebRTC): ${monitorAfter.framesDecoded - monitorBefore.framesDecoded} ` +
        `frames decoded, ${monitorAfter.framesDropped - monitorBefore.framesDropped} dropped, ` +
        `${monitorAfter.freezeCount - monitorBefore.freezeCount} freezes ` +
        `(${(monitorAfter.totalFreezesDuration - monitorBefore.totalFreezesDuration).toFixed(1)} s)`,
    );
    console.log(
      `real player (hls.js watch page open ${MINUTES} min): ${last.stalls} stalls, ` +
        `${(last.stallMs / 1000).toFixed(1)} s stalled in total`,
    );
    console.log(
      `cuts: ${cuts} (${cuts - cutsNotSeen} seen on the monitor); viewers joining and leaving: ` +
        `${rotations} (${rotations - rotationsNotPlaying} played); clips still on the air at ` +
        `the next cut: ${clipsStillOn}`,
    );

    const summary = {
      minutes: MINUTES,
      results,
      appHeapUsedKb: { start: heapStart, end: heapEnd },
      frames: {
        fragments: frames.fragments,
        probeErrors: frames.probeErrors,
        compositeExpected: frames.compositeExpected,
        compositeFrames: frames.compositeFrames,
        allExpected: frames.allExpected,
        allFrames: frames.allFrames,
        freezes: frames.freezes,
        freezesAtCuts: frames.freezesAtCuts,
        longestGapMs: frames.longestGapMs,
      },
      monitor: { before: monitorBefore, after: monitorAfter },
      player: { stalls: last.stalls, stallMs: last.stallMs },
      cuts: {
        count: cuts,
        notSeen: cutsNotSeen,
        clipsStillOn,
        programChanges: timeline.changes,
      },
      viewers: { rotations, notPlaying: rotationsNotPlaying },
    };
    await writeFile(
      path.join(outDir, 'samples.json'),
      `${JSON.stringify({ summary, samples }, null, 1)}\n`,
    );
    await writeFile(path.join(outDir, 'frames.json'), `${JSON.stringify(frames.probed)}\n`);
    const csv = ['t_s,role,pid,rss_kb,fds'];
    for (const s of samples) {
      for (const p of s.processes) csv.push(`${s.t},${p.role},${p.pid},${p.rssKb},${p.fds}`);
      csv.push(`${s.t},app-v8-heap,${app.pid},${s.appHeapUsedKb},`);
    }
    await writeFile(path.join(outDir, 'samples.csv'), `${csv.join('\n')}\n`);
    console.log(`samples: ${path.join(outDir, 'samples.json')} and samples.csv`);
  } finally {
    await viewer?.close().catch(() => undefined);
    await monitor?.close().catch(() => undefined);
    moderator?.close();
    for (const camera of cameras) await camera.close().catch(() => undefined);
    for (const browser of browsers) await browser.close().catch(() => undefined);
    await app.stop();
    await rm(cameraVideos, { recursive: true, force: true });
  }
}
