import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { startEngineProcess, workerPids, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import {
  classify,
  makeQuadrantClip,
  mediaDir,
  type Quadrants,
  type Rgb,
} from '../helpers/media.js';

const run = promisify(execFile);
let engine: EngineProcess;
let dir: string;
let shortClip: string;
let longClip: string;
const QUADRANTS: Quadrants = ['magenta', 'cyan', 'yellow', 'blue'];

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  shortClip = await makeQuadrantClip(path.join(dir, 'short.webm'), QUADRANTS, {
    seconds: 5,
    container: 'webm',
  });
  longClip = await makeQuadrantClip(path.join(dir, 'long.webm'), QUADRANTS, {
    seconds: 30,
    container: 'webm',
  });
});

after(async () => {
  await engine?.stop();
});

/** Duration of a file from its last video packet (works for files without an index too). */
async function decodedDuration(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time',
    '-of',
    'csv=p=0',
    file,
  ]);
  const times = stdout
    .split('\n')
    .map(Number)
    .filter((t) => Number.isFinite(t) && t > 0);
  return times.length === 0 ? 0 : Math.max(...times);
}

/** Decodes the whole file (must succeed) and samples the quadrants of a frame at `atSeconds`. */
async function fileQuadrants(file: string, atSeconds: number): Promise<string[]> {
  await run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  const width = 320;
  const height = 240;
  const { stdout } = await run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      file,
      '-ss',
      String(atSeconds),
      '-frames:v',
      '1',
      '-vf',
      `scale=${width}:${height}`,
      '-pix_fmt',
      'rgb24',
      '-f',
      'rawvideo',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 10 * 1024 * 1024 },
  );
  return QUADRANT_CENTRES.map(([fx, fy]) => {
    const x = Math.round(fx * width);
    const y = Math.round(fy * height);
    const i = (y * width + x) * 3;
    const pixel: Rgb = { r: stdout[i] ?? 0, g: stdout[i + 1] ?? 0, b: stdout[i + 2] ?? 0 };
    return classify(pixel);
  });
}

for (const profile of ['WEBM', 'MP4'] as const) {
  test(`a 5 s clip recorded as ${profile} lasts 5 s and shows the clip's picture`, async () => {
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    const file = path.join(dir, `recorded.${profile.toLowerCase()}`);
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `file://${file}`,
        mediaProfile: profile,
      });
      const events: string[] = [];
      for (const name of ['Recording', 'Paused', 'Stopped']) {
        recorder.on(name, () => events.push(name));
      }
      await player.connect(recorder);
      const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
      await recorder.record();
      await player.play();
      await ended;
      await recorder.stopAndWait();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(events, ['Recording', 'Stopped']);
      const duration = await decodedDuration(file);
      assert.ok(Math.abs(duration - 5) < 0.5, `recorded ${duration} s of a 5 s clip`);
      const { stdout } = await run('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'format=duration',
        '-of',
        'csv=p=0',
        file,
      ]);
      assert.ok(Math.abs(Number(stdout.trim()) - 5) < 0.5, `ffprobe reports ${stdout.trim()} s`);
      assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
    } finally {
      await pipeline.release();
      client.close();
    }
  });
}

for (const profile of ['WEBM', 'MP4'] as const) {
  test(`a ${profile} recording cut short by kill -9 of the worker still plays up to the crash`, async () => {
    const client = await connectKurento(engine.url);
    const before = new Set(await workerPids(engine.pid));
    const pipeline = await client.create('MediaPipeline');
    const file = path.join(dir, `killed.${profile.toLowerCase()}`);
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `file://${file}`,
        mediaProfile: profile,
      });
      await player.connect(recorder);
      const recording = new Promise<void>((resolve) => recorder.on('Recording', () => resolve()));
      await recorder.record();
      await player.play();
      await recording;
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const worker = (await workerPids(engine.pid)).find((pid) => !before.has(pid));
      assert.ok(worker !== undefined, 'the pipeline has its own worker');
      process.kill(worker, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const duration = await decodedDuration(file);
      assert.ok(Math.abs(duration - 4) <= 1, `the file holds ${duration} s of ~4 s recorded`);
      assert.deepEqual(await fileQuadrants(file, 1), [...QUADRANTS]);
    } finally {
      await pipeline.release().catch(() => undefined);
      client.close();
    }
  });
}

test('recording into an unwritable folder raises an Error event and the worker lives on', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const locked = path.join(dir, 'locked');
  await mkdir(locked, { recursive: true });
  await chmod(locked, 0o500);
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
    const target =
      process.getuid?.() === 0 ? '/proc/montage-cannot-write.webm' : path.join(locked, 'x.webm');
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${target}` });
    await player.connect(recorder);
    const error = new Promise<{ type: string; description: string }>((resolve) =>
      recorder.on('Error', (event: { type: string; description: string }) => resolve(event)),
    );
    let recordingRaised = false;
    recorder.on('Recording', () => {
      recordingRaised = true;
    });
    await recorder.record();
    const event = await error;
    assert.match(event.type, /^RESOURCE_ERROR_(OPEN|WRITE)$/);
    assert.match(event.description, /montage-cannot-write|x\.webm/);
    assert.equal(recordingRaised, false);
    // The worker still serves this pipeline.
    const other = await pipeline.create('RecorderEndpoint', {
      uri: `file://${path.join(dir, 'after-error.webm')}`,
    });
    await other.record();
    await other.stopAndWait();
    await stat(path.join(dir, 'after-error.webm'));
  } finally {
    await chmod(locked, 0o700);
    await pipeline.release();
    client.close();
  }
});

test('a RecorderEndpoint raises Recording, Paused, Recording, Stopped in order and rejects non-file URIs', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    await assert.rejects(
      pipeline.create('RecorderEndpoint', { uri: 'http://example.com/x.webm' }),
      { code: 40001 },
    );
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${path.join(dir, 'paused.webm')}`,
    });
    const events: string[] = [];
    for (const name of ['Recording', 'Paused', 'Stopped'])
      recorder.on(name, () => events.push(name));
    recorder.on('UriEndpointStateChanged', (event: { state: string }) => events.push(event.state));
    await player.connect(recorder);
    await player.play();
    await recorder.record();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await recorder.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await recorder.record();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await recorder.stopAndWait();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(events, [
      'START',
      'Recording',
      'PAUSE',
      'Paused',
      'START',
      'Recording',
      'STOP',
      'Stopped',
    ]);
    const duration = await decodedDuration(path.join(dir, 'paused.webm'));
    assert.ok(Math.abs(duration - 3) < 0.6, `the pause is cut out: ${duration} s of 3 s recorded`);
  } finally {
    await pipeline.release();
    client.close();
  }
});
