/**
 * Composite benchmarks: CPU against an ffmpeg composite, added latency against a direct path,
 * Dispatcher switch time in frames, and worker memory per participant.
 *
 * Every figure is measured in the same run as its anchor on the same machine. The machines are
 * shared and noisy, so CPU runs alternate between the engine and the anchor and figures are
 * medians over the runs. Knobs (environment, all optional):
 *   BENCH_COMPOSITE_RUNS        CPU runs per side (default 3)
 *   BENCH_COMPOSITE_WINDOW_MS   CPU window per run (default 8000)
 *   BENCH_LATENCY_SECONDS       latency measuring time (default 60)
 *   BENCH_SWITCHES              Dispatcher switches (default 100)
 *   BENCH_MEMORY_INPUTS         largest composite in the memory table (default 8)
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type kurento from 'kurento-client';
import { cpuTicks, startEngineProcess, workerPids } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { mediaDir, type PaletteName } from '../helpers/media.js';
import { freeUdpPortPair, RtpReceiver, type DecodedFrame } from '../helpers/RtpReceiver.js';
import { gridCells, makeMovingBoxClip, readCell, type Rect } from '../media/hubHelpers.js';
import { median, percentile, printComparison } from './stats.js';

const run = promisify(execFile);

const RUNS = Number(process.env.BENCH_COMPOSITE_RUNS ?? 3);
const CPU_WINDOW_MS = Number(process.env.BENCH_COMPOSITE_WINDOW_MS ?? 8_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 60);
const SWITCHES = Number(process.env.BENCH_SWITCHES ?? 100);
const MEMORY_INPUTS = Number(process.env.BENCH_MEMORY_INPUTS ?? 8);
/** Time for pipelines to reach a steady state before anything is measured. */
const WARMUP_MS = 3_000;
const CLOCK_TICKS_PER_SECOND = 100;

const OUT_WIDTH = 1280;
const OUT_HEIGHT = 720;
const TILE_WIDTH = 640;
const TILE_HEIGHT = 360;
const FPS = 30;
/**
 * The engine's shared H.264 encoder settings (kms/worker/link.c), given to the anchor's libx264
 * too, so that both sides pay for the same encode and the ratio shows the pipeline around it.
 */
function x264Args(keyframeInterval: number): string[] {
  return [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-b:v',
    '1500k',
    // x264enc's bitrate mode is CBR with a 600 ms VBV buffer: the same here.
    '-maxrate',
    '1500k',
    '-bufsize',
    '900k',
    '-g',
    String(keyframeInterval),
    '-threads',
    '2',
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Fails instead of hanging when the engine does not answer: a bench must end. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Video-only H.264 MP4 clips of testsrc2 (moving pattern, gradients, a counter), one hue each,
 * so that the encoder sees realistic motion rather than flat colours.
 */
export async function makeMovingH264Clips(
  dir: string,
  count: number,
  seconds: number,
): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const file = path.join(dir, `moving-${i}.mp4`);
      await run('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=s=${TILE_WIDTH}x${TILE_HEIGHT}:r=${FPS},hue=h=${i * 90}`,
        '-t',
        String(seconds),
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        '30',
        '-pix_fmt',
        'yuv420p',
        file,
      ]);
      return file;
    }),
  );
}

/** A UDP port pair that swallows RTP and counts bytes: the output's receiver costs nothing. */
export class UdpSink {
  bytes = 0;
  private constructor(
    readonly port: number,
    private readonly sockets: Socket[],
  ) {}

  static async open(): Promise<UdpSink> {
    const port = await freeUdpPortPair();
    const sockets: Socket[] = [];
    for (const p of [port, port + 1]) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(p, '127.0.0.1', () => resolve());
      });
      sockets.push(socket);
    }
    const sink = new UdpSink(port, sockets);
    sockets[0]?.on('message', (message: Buffer) => {
      sink.bytes += message.length;
    });
    return sink;
  }

  /** A recvonly H.264 offer for an RtpEndpoint, pointing at this sink. */
  get offer(): string {
    return sdp(this.port, 'recvonly');
  }

  async close(): Promise<void> {
    await Promise.all(
      this.sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))),
    );
  }
}

function sdp(port: number, direction: 'recvonly' | 'sendonly'): string {
  return (
    [
      'v=0',
      `o=- ${Date.now()} 0 IN IP4 127.0.0.1`,
      's=bench',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=video ${port} RTP/AVP 96`,
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 packetization-mode=1',
      `a=${direction}`,
    ].join('\r\n') + '\r\n'
  );
}

/** The video port of an SDP answer. */
function videoPort(answer: string): number {
  const m = /^m=video (\d+)/m.exec(answer);
  if (!m) throw new Error(`no video m-line in answer:\n${answer}`);
  return Number(m[1]);
}

/** CPU used by a set of processes over a window, in percent of one core. */
export async function measureCpu(pids: number[], windowMs: number): Promise<number> {
  const sum = async (): Promise<number> => {
    let total = 0;
    for (const pid of pids) total += await cpuTicks(pid).catch(() => 0);
    return total;
  };
  const start = await sum();
  await sleep(windowMs);
  const end = await sum();
  return ((end - start) / CLOCK_TICKS_PER_SECOND / (windowMs / 1000)) * 100;
}

/** Resident memory of a process in MiB (VmRSS). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Starts ffmpeg and fails loudly if it exits before it is stopped. */
function startFfmpeg(args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], {
    stdio: [stdin, 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-2000);
  });
  child.once('exit', (code) => {
    if (!stopping.has(child) && code !== 0) process.stderr.write(`ffmpeg exited ${code}: ${log}\n`);
  });
  return child;
}

/** Processes being stopped on purpose, whose exit status is not news. */
const stopping = new WeakSet<ChildProcess>();

async function stopProcess(child: ChildProcess): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

/**
 * ffmpeg's equivalent of the Composite: n file inputs in real time, each scaled to fit its grid
 * cell (Kurento's grid: cols = ceil(sqrt n)), stacked on black at 1280x720@30, encoded like the
 * engine's shared encoder and sent as RTP.
 */
function ffmpegComposite(clips: readonly string[], port: number): ChildProcess {
  const n = clips.length;
  let cols = 1;
  while (cols * cols < n) cols++;
  const rows = Math.ceil(n / cols);
  const cw = Math.floor(OUT_WIDTH / cols) & ~1;
  const ch = Math.floor(OUT_HEIGHT / rows) & ~1;
  const fit = (i: number): string =>
    cw === TILE_WIDTH && ch === TILE_HEIGHT
      ? `[${i}:v]null[c${i}]`
      : `[${i}:v]scale=${cw}:${ch}:force_original_aspect_ratio=decrease,` +
        `pad=${cw}:${ch}:(ow-iw)/2:(oh-ih)/2[c${i}]`;
  const cells = clips.map((_, i) => fit(i)).join(';');
  const stack =
    n === 1
      ? `[c0]pad=${OUT_WIDTH}:${OUT_HEIGHT}[v]`
      : `${clips.map((_, i) => `[c${i}]`).join('')}xstack=inputs=${n}:fill=black:layout=` +
        clips.map((_, i) => `${(i % cols) * cw}_${Math.floor(i / cols) * ch}`).join('|') +
        `,pad=${OUT_WIDTH}:${OUT_HEIGHT}[v]`;
  return startFfmpeg([
    '-nostdin',
    ...clips.flatMap((clip) => ['-re', '-i', clip]),
    '-filter_complex',
    `${cells};${stack}`,
    '-map',
    '[v]',
    '-r',
    String(FPS),
    '-pix_fmt',
    'yuv420p',
    ...x264Args(30),
    '-f',
    'rtp',
    `rtp://127.0.0.1:${port}`,
  ]);
}

async function waitForBytes(sink: UdpSink, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sink.bytes === 0) {
    if (Date.now() > deadline) throw new Error('no RTP arrived at the sink');
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// (a) CPU

async function engineCompositeCpu(
  url: string,
  enginePid: number,
  clips: string[],
): Promise<number> {
  const client = await connectKurento(url);
  const pipeline = await client.create('MediaPipeline');
  const sink = await UdpSink.open();
  try {
    const composite = await pipeline.create('Composite', {
      width: OUT_WIDTH,
      height: OUT_HEIGHT,
      framerate: FPS,
    });
    const players: kurento.PlayerEndpoint[] = [];
    for (const clip of clips) {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      await player.connect(await composite.createHubPort(), 'VIDEO');
      players.push(player);
    }
    const out = await composite.createHubPort();
    const rtp = await pipeline.create('RtpEndpoint');
    await out.connect(rtp, 'VIDEO');
    await rtp.processOffer(sink.offer);
    for (const player of players) await player.play();
    await waitForBytes(sink, 10_000);
    await sleep(WARMUP_MS);
    const bytes = sink.bytes;
    const cpu = await measureCpu([enginePid, ...(await workerPids(enginePid))], CPU_WINDOW_MS);
    if (sink.bytes - bytes < 50_000) throw new Error('the composite stopped sending');
    return cpu;
  } finally {
    await pipeline.release();
    client.close();
    await sink.close();
  }
}

async function anchorCompositeCpu(clips: string[]): Promise<number> {
  const sink = await UdpSink.open();
  const ffmpeg = ffmpegComposite(clips, sink.port);
  try {
    await waitForBytes(sink, 10_000);
    await sleep(WARMUP_MS);
    return await measureCpu([ffmpeg.pid ?? 0], CPU_WINDOW_MS);
  } finally {
    await stopProcess(ffmpeg);
    await sink.close();
  }
}

/**
 * Four 640x360@30 H.264 files → Composite 1280x720@30 → H.264 → RtpEndpoint → UDP, against
 * ffmpeg doing the same (decode four files in real time, xstack, libx264 with the engine's
 * settings, RTP). Both read the same files, so both pay for demuxing and decoding; the receiver
 * is a plain UDP socket in this process and is not counted.
 */
export async function benchCompositeCpu(): Promise<void> {
  const dir = await mediaDir();
  const clipSeconds = Math.ceil((WARMUP_MS + CPU_WINDOW_MS) / 1000) + 15;
  const clips = await makeMovingH264Clips(dir, 4, clipSeconds);
  const engine = await startEngineProcess();
  const ours: number[] = [];
  const anchor: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      ours.push(await engineCompositeCpu(engine.url, engine.pid, clips));
      anchor.push(await anchorCompositeCpu(clips));
      process.stdout.write(
        `  run ${i + 1}/${RUNS}: montage ${ours[i]?.toFixed(1)} %, ffmpeg ${anchor[i]?.toFixed(1)} %\n`,
      );
    }
  } finally {
    await engine.stop();
  }
  printComparison(
    `Composite 4 × 640x360 → 1280x720@30 H.264 RTP, CPU over ${CPU_WINDOW_MS} ms, ${RUNS} runs ` +
      '(medians; anchor = ffmpeg xstack + libx264, same settings)',
    [
      {
        metric: 'CPU (engine + worker)',
        ours: median(ours),
        anchor: median(anchor),
        unit: '%',
        goal: '≤ 1.25x',
      },
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// (b) Latency

/** Frames carry a 16-bit counter and its complement as 4 rows of 8 black/white blocks. */
const CODE_ROWS = 4;
const CODE_COLS = 8;

/** A 640x360 I420 frame showing `code` in its top half and a moving bar in its bottom half. */
function codedFrame(code: number): Buffer {
  const w = TILE_WIDTH;
  const h = TILE_HEIGHT;
  const frame = Buffer.alloc((w * h * 3) / 2, 128);
  const bits = (code & 0xffff) | ((~code & 0xffff) << 16);
  const bw = w / CODE_COLS;
  const bh = h / 2 / CODE_ROWS;
  for (let row = 0; row < CODE_ROWS; row++)
    for (let col = 0; col < CODE_COLS; col++) {
      const on = (bits >>> (row * CODE_COLS + col)) & 1;
      const value = on ? 235 : 16;
      for (let y = Math.floor(row * bh); y < Math.floor((row + 1) * bh); y++)
        frame.fill(value, y * w + col * bw, y * w + (col + 1) * bw);
    }
  const barX = (code * 8) % w;
  for (let y = h / 2; y < h; y++) frame.fill(235, y * w + barX, y * w + Math.min(w, barX + 32));
  return frame;
}

/** Reads the code from the part of a decoded frame where the coded picture is, or undefined. */
function readCode(receiver: RtpReceiver, rect: Rect): number | undefined {
  const points: Array<[number, number]> = [];
  for (let row = 0; row < CODE_ROWS; row++)
    for (let col = 0; col < CODE_COLS; col++)
      points.push([
        rect.x + ((col + 0.5) / CODE_COLS) * rect.w,
        rect.y + ((row + 0.5) / (2 * CODE_ROWS)) * rect.h,
      ]);
  let bits = 0;
  receiver.sample(points).forEach(({ r, g, b }, i) => {
    if (r + g + b > 3 * 128) bits |= 1 << i;
  });
  bits >>>= 0;
  const code = bits & 0xffff;
  return ((bits >>> 16) ^ code) === 0xffff ? code : undefined;
}

/** Records when each code first appeared in a receiver's decoded output. */
class CodeWatcher {
  readonly arrivals = new Map<number, number>();
  #last: DecodedFrame | undefined;
  #timer: NodeJS.Timeout;

  constructor(receiver: RtpReceiver, rect: Rect) {
    this.#timer = setInterval(() => {
      const frame = receiver.latest;
      if (frame === undefined || frame === this.#last) return;
      this.#last = frame;
      const code = readCode(receiver, rect);
      if (code !== undefined && !this.arrivals.has(code)) this.arrivals.set(code, frame.at);
    }, 2);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Coded frames generated here at 30 fps → ffmpeg (libx264 zerolatency) → RTP, sent at once to
 * two places: an RtpEndpoint → HubPort → Composite (with three more moving inputs) → HubPort →
 * RtpEndpoint → decoder, and straight to an identical decoder (the anchor). The same frames
 * travel both paths at the same time, so each frame's arrival difference is the composite's
 * added latency (decode, composite, encode, RTP in and out), free of the sender's and
 * decoder's own delays.
 */
export async function benchCompositeLatency(): Promise<void> {
  const dir = await mediaDir();
  const clips = await makeMovingH264Clips(dir, 3, LATENCY_SECONDS + 30);
  const engine = await startEngineProcess();
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receivers: RtpReceiver[] = [];
  const watchers: CodeWatcher[] = [];
  let sender: ChildProcess | undefined;
  let generator: NodeJS.Timeout | undefined;
  try {
    const composite = await pipeline.create('Composite', {
      width: OUT_WIDTH,
      height: OUT_HEIGHT,
      framerate: FPS,
    });
    const input = await pipeline.create('RtpEndpoint');
    // The coded input takes the first cell (top left, 640x360: no scaling).
    await input.connect(await composite.createHubPort(), 'VIDEO');
    const inputAnswer: string = await input.processOffer(sdp(await freeUdpPortPair(), 'sendonly'));
    const players: kurento.PlayerEndpoint[] = [];
    for (const clip of clips) {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      await player.connect(await composite.createHubPort(), 'VIDEO');
      players.push(player);
    }
    const output = await pipeline.create('RtpEndpoint');
    await (await composite.createHubPort()).connect(output, 'VIDEO');

    const viaComposite = await RtpReceiver.create({
      video: true,
      audio: false,
      width: TILE_WIDTH,
      height: TILE_HEIGHT,
    });
    receivers.push(viaComposite);
    await viaComposite.start(await output.processOffer(viaComposite.offer));
    const direct = await RtpReceiver.create({
      video: true,
      audio: false,
      width: TILE_WIDTH,
      height: TILE_HEIGHT,
    });
    receivers.push(direct);
    await direct.start(sdp(direct.videoPort ?? 0, 'sendonly'));
    for (const player of players) await player.play();

    // SPS/PPS in band before every keyframe, so both decoders start at the first one.
    sender = startFfmpeg(
      [
        '-f',
        'rawvideo',
        '-pix_fmt',
        'yuv420p',
        '-s',
        `${TILE_WIDTH}x${TILE_HEIGHT}`,
        '-r',
        String(FPS),
        '-i',
        'pipe:0',
        ...x264Args(FPS),
        '-x264-params',
        'aud=1',
        '-bsf:v',
        'dump_extra=freq=keyframe',
        '-map',
        '0:v',
        '-f',
        'tee',
        `[f=rtp]rtp://127.0.0.1:${videoPort(inputAnswer)}|[f=rtp]rtp://127.0.0.1:${direct.videoPort}`,
      ],
      'pipe',
    );
    const stdin = sender.stdin;
    if (!stdin) throw new Error('no stdin on the sender');
    stdin.on('error', () => undefined);
    const sentAt = new Map<number, number>();
    const startedAt = Date.now();
    let code = 0;
    const sendNext = (): void => {
      sentAt.set(code, Date.now());
      stdin.write(codedFrame(code));
      code += 1;
      const due = startedAt + (code * 1000) / FPS;
      generator = setTimeout(sendNext, Math.max(0, due - Date.now()));
    };
    sendNext();

    await direct.waitForFrames(10, 15_000);
    await viaComposite.waitForFrames(10, 15_000);
    await sleep(WARMUP_MS);
    const firstCode = code;
    watchers.push(new CodeWatcher(viaComposite, { x: 0, y: 0, w: 0.5, h: 0.5 }));
    watchers.push(new CodeWatcher(direct, { x: 0, y: 0, w: 1, h: 1 }));
    await sleep(LATENCY_SECONDS * 1000);
    const lastCode = code - FPS; // frames still in flight are not counted
    await sleep(1_000);
    for (const watcher of watchers) watcher.stop();

    const [oursArrivals, anchorArrivals] = watchers.map((watcher) => watcher.arrivals);
    const ours: number[] = [];
    const anchor: number[] = [];
    const added: number[] = [];
    for (let c = firstCode; c < lastCode; c++) {
      const sent = sentAt.get(c & 0xffff);
      const o = oursArrivals?.get(c & 0xffff);
      const a = anchorArrivals?.get(c & 0xffff);
      if (sent === undefined || o === undefined || a === undefined) continue;
      ours.push(o - sent);
      anchor.push(a - sent);
      added.push(o - a);
    }
    const frames = lastCode - firstCode;
    process.stdout.write(
      `  ${added.length} of ${frames} frames read on both paths ` +
        `(via composite ${oursArrivals?.size ?? 0}, direct ${anchorArrivals?.size ?? 0})\n`,
    );
    if (added.length < frames / 2) throw new Error('too few frames decoded on both paths');
    printComparison(
      `Latency generator → RTP → decoded, ${LATENCY_SECONDS} s, ${added.length} frames ` +
        '(anchor = the same frames sent straight to an identical decoder)',
      [
        { metric: 'latency p50', ours: median(ours), anchor: median(anchor), unit: 'ms' },
        {
          metric: 'latency p95',
          ours: percentile(ours, 95),
          anchor: percentile(anchor, 95),
          unit: 'ms',
        },
      ],
    );
    console.log(
      `composite's added latency (per frame, ours − anchor): p50 ${median(added).toFixed(1)} ms, ` +
        `p95 ${percentile(added, 95).toFixed(1)} ms, max ${Math.max(...added).toFixed(1)} ms ` +
        '(goal p95 ≤ 50 ms)',
    );
  } finally {
    if (generator) clearTimeout(generator);
    for (const watcher of watchers) watcher.stop();
    if (sender) await stopProcess(sender);
    for (const receiver of receivers) await receiver.stop();
    await pipeline.release();
    client.close();
    await engine.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// (c) Switch time

const SWITCH_WIDTH = 320;
const SWITCH_HEIGHT = 180;

/** 'grid' when the picture is the composite (red, green, blue tiles), else the single colour. */
function whatIsShown(receiver: RtpReceiver): string {
  const frame = receiver.latest;
  if (!frame) return 'nothing';
  const tiles = gridCells(4).map(
    (cell) => readCell(frame, SWITCH_WIDTH, SWITCH_HEIGHT, cell).colour,
  );
  if (tiles.join() === 'red,green,blue,black') return 'grid';
  return readCell(frame, SWITCH_WIDTH, SWITCH_HEIGHT, { x: 0, y: 0, w: 1, h: 1 }).colour;
}

/** Frames decoded after the switch request was answered until `expected` showed. */
async function framesUntil(receiver: RtpReceiver, expected: string): Promise<number> {
  const start = receiver.frames;
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    if (whatIsShown(receiver) === expected) return receiver.frames - start;
    await sleep(2);
  }
  throw new Error(`${expected} never appeared (showing ${whatIsShown(receiver)})`);
}

/**
 * A Dispatcher switching its program between a Composite of three players and a fourth player,
 * decoded after an RtpEndpoint (the approach of test/media/dispatcher.test.ts). There is no
 * natural anchor: Kurento's switch time is not documented as a figure and no Kurento runs here.
 */
export async function benchDispatcherSwitch(): Promise<void> {
  const dir = await mediaDir();
  const colours: PaletteName[] = ['red', 'green', 'blue', 'yellow'];
  // Players do not loop, so the clips last the whole run; small ones (the receiver decodes
  // 320x180 anyway), which a loaded machine still writes in seconds.
  const seconds = Math.ceil(SWITCHES * 0.35) + 15;
  const clips = await Promise.all(
    colours.map((c, i) =>
      makeMovingBoxClip(path.join(dir, `switch-${c}.webm`), c, {
        seconds,
        toneHz: 300 + 200 * i,
        width: SWITCH_WIDTH,
        height: SWITCH_HEIGHT,
      }),
    ),
  );
  process.stdout.write('  clips ready\n');
  const engine = await startEngineProcess();
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  let receiver: RtpReceiver | undefined;
  try {
    const players: kurento.PlayerEndpoint[] = [];
    for (const clip of clips)
      players.push(await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` }));
    const composite = await pipeline.create('Composite', { width: 640, height: 360 });
    for (const player of players.slice(0, 3)) await player.connect(await composite.createHubPort());
    const compositeOut = await composite.createHubPort();
    const dispatcher = await pipeline.create('Dispatcher');
    const fromComposite = await dispatcher.createHubPort();
    const fromPlayer = await dispatcher.createHubPort();
    await compositeOut.connect(fromComposite);
    const injected = players[3];
    if (injected === undefined) throw new Error('the switch bench needs four clips');
    await injected.connect(fromPlayer);
    const program = await dispatcher.createHubPort();
    // GStreamer hands each frame on at its RTP marker bit, so the count is the switch's own.
    receiver = await RtpReceiver.create({
      video: true,
      audio: false,
      width: SWITCH_WIDTH,
      height: SWITCH_HEIGHT,
      decoder: 'gstreamer',
    });
    const rtp = await pipeline.create('RtpEndpoint');
    await program.connect(rtp);
    await receiver.start(await rtp.processOffer(receiver.offer));
    for (const player of players) await player.play();
    await within(dispatcher.connect(fromComposite, program), 5_000, 'first switch');
    await receiver.waitForFrames(10, 15_000);
    await framesUntil(receiver, 'grid');
    process.stdout.write('  switching\n');

    const delays: number[] = [];
    for (let i = 0; i < SWITCHES; i++) {
      const toPlayer = i % 2 === 0;
      await within(
        dispatcher.connect(toPlayer ? fromPlayer : fromComposite, program),
        5_000,
        `switch ${i}`,
      );
      delays.push(await framesUntil(receiver, toPlayer ? 'yellow' : 'grid'));
      await sleep(150);
    }
    console.log(
      `\nDispatcher switch composite ↔ player, ${SWITCHES} switches, in decoded frames ` +
        '(no anchor: Kurento documents no switch time to compare with)',
    );
    console.log(
      `median ${median(delays)} frames, p95 ${percentile(delays, 95)}, ` +
        `worst ${Math.max(...delays)} (goal median ≤ 2)`,
    );
  } finally {
    await receiver?.stop();
    await within(pipeline.release(), 10_000, 'pipeline.release()').catch((error: unknown) =>
      process.stderr.write(`${String(error)}\n`),
    );
    client.close();
    await engine.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// (d) Memory

/**
 * Resident memory of the pipeline's worker: empty, with a Composite sending H.264 through an
 * RtpEndpoint, then with 1..N playing PlayerEndpoint inputs; next to the resident memory of
 * ffmpeg compositing the same number of the same files into the same grid.
 */
export async function benchCompositeMemory(): Promise<void> {
  const settleMs = 2_500;
  const dir = await mediaDir();
  const clips = await makeMovingH264Clips(
    dir,
    1,
    Math.ceil((MEMORY_INPUTS * settleMs) / 1000) + 20,
  );
  const clip = clips[0] ?? '';
  // The pipeline's worker is the engine's only child: no warm worker beside it.
  const engine = await startEngineProcess({ KMS_WARM_WORKERS: '0' });
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const sink = await UdpSink.open();
  const rows: Array<{ inputs: string; ours: number; anchor: number }> = [];
  try {
    await sleep(1_000);
    const [worker] = await workerPids(engine.pid);
    if (worker === undefined) throw new Error('no worker for the pipeline');
    rows.push({ inputs: 'empty pipeline', ours: await rssMiB(worker), anchor: Number.NaN });
    const composite = await pipeline.create('Composite', {
      width: OUT_WIDTH,
      height: OUT_HEIGHT,
      framerate: FPS,
    });
    const rtp = await pipeline.create('RtpEndpoint');
    await (await composite.createHubPort()).connect(rtp, 'VIDEO');
    await rtp.processOffer(sink.offer);
    await sleep(settleMs);
    rows.push({ inputs: 'composite, 0 inputs', ours: await rssMiB(worker), anchor: Number.NaN });
    for (let n = 1; n <= MEMORY_INPUTS; n++) {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      await player.connect(await composite.createHubPort(), 'VIDEO');
      await player.play();
      await sleep(settleMs);
      const ours = await rssMiB(worker);
      const anchorSink = await UdpSink.open();
      const ffmpeg = ffmpegComposite(Array<string>(n).fill(clip), anchorSink.port);
      let anchor = Number.NaN;
      try {
        await waitForBytes(anchorSink, 10_000);
        await sleep(settleMs);
        anchor = await rssMiB(ffmpeg.pid ?? 0);
      } finally {
        await stopProcess(ffmpeg);
        await anchorSink.close();
      }
      rows.push({ inputs: `composite, ${n} input${n > 1 ? 's' : ''}`, ours, anchor });
    }
  } finally {
    await pipeline.release();
    client.close();
    await sink.close();
    await engine.stop();
  }
  console.log(
    '\nWorker resident memory (VmRSS, MiB), composite 1280x720@30 → H.264 RTP, ' +
      'inputs 640x360@30 H.264 files (anchor = ffmpeg compositing the same inputs)',
  );
  console.log(['inputs'.padEnd(20), 'montage', 'Δ prev', 'anchor', 'ratio'].join('  '));
  rows.forEach((row, i) => {
    const previous = rows[i - 1];
    const delta = previous ? row.ours - previous.ours : Number.NaN;
    console.log(
      [
        row.inputs.padEnd(20),
        row.ours.toFixed(1).padStart(7),
        (Number.isNaN(delta) ? '' : `${delta >= 0 ? '+' : ''}${delta.toFixed(1)}`).padStart(6),
        (Number.isNaN(row.anchor) ? '' : row.anchor.toFixed(1)).padStart(6),
        Number.isNaN(row.anchor) ? '' : `${(row.ours / row.anchor).toFixed(2)}x`,
      ].join('  '),
    );
  });
  const one = rows.find((row) => row.inputs === 'composite, 1 input');
  const last = rows[rows.length - 1];
  if (one && last && MEMORY_INPUTS > 1) {
    const slope = (last.ours - one.ours) / (MEMORY_INPUTS - 1);
    const anchorSlope = (last.anchor - one.anchor) / (MEMORY_INPUTS - 1);
    printComparison('Per added participant (1 → N inputs, slope)', [
      { metric: 'RSS per participant', ours: slope, anchor: anchorSlope, unit: 'MiB' },
    ]);
  }
}
