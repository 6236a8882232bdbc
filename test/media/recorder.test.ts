import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { startEngineProcess, workerPids, type EngineProcess } from '../helpers/engineProcess.js';
import { fileQuadrants, lastVideoTime } from '../helpers/fileMedia.js';
import { connectKurento } from '../helpers/kurento.js';
import { RtpReceiver } from '../helpers/RtpReceiver.js';
import { mountTinyDisk } from '../helpers/tmpfs.js';
import { classify, makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';

const run = promisify(execFile);
let engine: EngineProcess;
let dir: string;
let shortClip: string;
let longClip: string;
const QUADRANTS: Quadrants = ['magenta', 'cyan', 'yellow', 'blue'];

before(async () => {
  dir = await mediaDir();
  // A pipeline's worker is found as the engine's new child: no warm worker may stand ready.
  engine = await startEngineProcess({ KMS_WARM_WORKERS: '0' });
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

/** Codec names of the file's streams, e.g. ['h264', 'aac']. */
async function streamCodecs(file: string): Promise<string[]> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_name',
    '-of',
    'csv=p=0',
    file,
  ]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** Container duration as ffprobe reads it from the file's index/header. */
async function formatDuration(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'format=duration',
    '-of',
    'csv=p=0',
    file,
  ]);
  return Number(stdout.trim());
}

/**
 * Amplitude (0..1, a full-scale sine is 1) of each frequency in the file's decoded audio from
 * `fromSeconds` on, over one second (Goertzel, as RtpReceiver.toneLevels).
 */
async function fileToneLevels(
  file: string,
  hzList: readonly number[],
  fromSeconds: number,
): Promise<number[]> {
  const rate = 48_000;
  const { stdout } = await run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      file,
      '-ss',
      String(fromSeconds),
      '-t',
      '1',
      '-vn',
      '-ac',
      '1',
      '-ar',
      String(rate),
      '-f',
      's16le',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 10 * 1024 * 1024 },
  );
  const n = Math.floor(stdout.length / 2);
  return hzList.map((hz) => {
    if (n === 0) return 0;
    const k = Math.round((n * hz) / rate);
    const coefficient = 2 * Math.cos((2 * Math.PI * k) / n);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = stdout.readInt16LE(i * 2) / 32768 + coefficient * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    return (2 * Math.sqrt(Math.max(0, power))) / n;
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
      const duration = await lastVideoTime(file);
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
      // Kurento's MP4 is H.264 + AAC (what players expect); WEBM is VP8 + Opus.
      assert.deepEqual(
        (await streamCodecs(file)).sort(),
        profile === 'MP4' ? ['aac', 'h264'] : ['opus', 'vp8'],
      );
      // The clip's 440 Hz tone (amplitude 1/8) survives the audio encoder.
      const [tone, silence] = await fileToneLevels(file, [440, 1000], 2);
      assert.ok(tone !== undefined && tone > 0.08, `440 Hz at ${tone} in the recording`);
      assert.ok(silence !== undefined && silence < 0.02, `1000 Hz at ${silence}`);
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
      const duration = await lastVideoTime(file);
      assert.ok(Math.abs(duration - 4) <= 1, `the file holds ${duration} s of ~4 s recorded`);
      assert.deepEqual(await fileQuadrants(file, 1), [...QUADRANTS]);
    } finally {
      await pipeline.release().catch(() => undefined);
      client.close();
    }
  });
}

test('a recorder never overwrites a file it did not write and never follows a symbolic link (Error RESOURCE_ERROR_OPEN, bytes kept); it may record its own file again', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const precious = path.join(dir, 'precious.webm');
  const target = path.join(dir, 'link-target.txt');
  const link = path.join(dir, 'through-a-link.webm');
  await writeFile(precious, "last year's assembly");
  await writeFile(target, "not the engine's to write");
  await rm(link, { force: true });
  await symlink(target, link);
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
    for (const [file, why] of [
      [precious, /the file exists, and the engine never overwrites/],
      [link, /symbolic link, which the engine never follows/],
    ] as const) {
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
      await player.connect(recorder);
      const error = new Promise<{ type: string; description: string }>((resolve) =>
        recorder.on('Error', (event: { type: string; description: string }) => resolve(event)),
      );
      await recorder.record();
      // Without the refusal the recorder would just record: bounded, so that fails clearly.
      let timer: NodeJS.Timeout | undefined;
      const event = await Promise.race([
        error,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no Error event for ${file} in 20 s`)), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(event.type, 'RESOURCE_ERROR_OPEN');
      assert.match(event.description, why);
      await recorder.release();
    }
    assert.equal(await readFile(precious, 'utf8'), "last year's assembly");
    assert.equal(await readFile(target, 'utf8'), "not the engine's to write");

    // Its own file: record, stop, record again into the same file.
    const own = path.join(dir, 'own-twice.webm');
    await rm(own, { force: true });
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${own}` });
    await player.connect(recorder);
    let errors = 0;
    recorder.on('Error', () => (errors += 1));
    await player.play();
    for (let round = 0; round < 2; round++) {
      const recording = new Promise<void>((resolve) => recorder.once('Recording', () => resolve()));
      await recorder.record();
      await recording;
      await recorder.stopAndWait();
    }
    assert.equal(errors, 0);
    assert.ok((await stat(own)).size > 0);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('with KMS_RECORDER_OVERWRITE an existing file is replaced, as Kurento does; a symbolic link is still never followed', async () => {
  const overwriting = await startEngineProcess({ KMS_RECORDER_OVERWRITE: 'true' });
  const client = await connectKurento(overwriting.url);
  const pipeline = await client.create('MediaPipeline');
  const old = path.join(dir, 'replaced.webm');
  const target = path.join(dir, 'still-not-followed.txt');
  const link = path.join(dir, 'still-a-link.webm');
  await writeFile(old, 'an older recording');
  await writeFile(target, 'kept');
  await rm(link, { force: true });
  await symlink(target, link);
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${old}` });
    await player.connect(recorder);
    const recording = new Promise<void>((resolve) => recorder.once('Recording', () => resolve()));
    await player.play();
    await recorder.record();
    await recording;
    // Recorded until the file holds some of the clip (bounded), then finished.
    for (let waited = 0; (await stat(old)).size < 20_000 && waited < 20_000; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await recorder.stopAndWait();
    assert.ok((await stat(old)).size >= 20_000, 'the recording replaced the old file');
    assert.ok(!(await readFile(old)).includes('an older recording'));

    const linked = await pipeline.create('RecorderEndpoint', { uri: `file://${link}` });
    await player.connect(linked);
    const error = new Promise<{ type: string; description: string }>((resolve) =>
      linked.on('Error', (event: { type: string; description: string }) => resolve(event)),
    );
    await linked.record();
    let timer: NodeJS.Timeout | undefined;
    const event = await Promise.race([
      error,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('no Error event for the link in 20 s')), 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.match(event.description, /symbolic link/);
    assert.equal(await readFile(target, 'utf8'), 'kept');
  } finally {
    await pipeline.release();
    client.close();
    await overwriting.stop();
  }
});

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

test('a RecorderEndpoint raises Recording, Paused, Recording, Stopped in order and rejects URIs it cannot write', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    await assert.rejects(pipeline.create('RecorderEndpoint', { uri: 'ftp://example.com/x.webm' }), {
      code: 40001,
    });
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
    const duration = await lastVideoTime(path.join(dir, 'paused.webm'));
    assert.ok(Math.abs(duration - 3) < 0.6, `the pause is cut out: ${duration} s of 3 s recorded`);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test("an MP4_AUDIO_ONLY recording is one AAC stream carrying the clip's tone", async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const file = path.join(dir, 'audio-only.mp4');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${file}`,
      mediaProfile: 'MP4_AUDIO_ONLY',
    });
    await player.connect(recorder);
    const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
    await recorder.record();
    await player.play();
    await ended;
    await recorder.stopAndWait();
    assert.deepEqual(await streamCodecs(file), ['aac']);
    const [tone] = await fileToneLevels(file, [440], 2);
    assert.ok(tone !== undefined && tone > 0.08, `440 Hz at ${tone} in the recording`);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('stopAndWait does not hold up the pipeline: another request answers while the file is finished', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  // A FIFO that is already full and never read: the filesink blocks on its first write, so the
  // EOS cannot reach the file and the stop lasts until the worker's 3 s timeout.
  const fifo = path.join(dir, 'stalled.webm');
  await rm(fifo, { force: true });
  await run('mkfifo', [fifo]);
  const reader = await open(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const chunk = Buffer.alloc(4096);
  for (;;) {
    try {
      await reader.write(chunk);
    } catch {
      break; // EAGAIN: the pipe is full.
    }
  }
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${fifo}` });
    const errors: string[] = [];
    recorder.on('Error', (event: { type: string }) => errors.push(event.type));
    const stopped = new Promise<void>((resolve) => recorder.on('Stopped', () => resolve()));
    await player.connect(recorder);
    await recorder.record();
    await player.play();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const stopStarted = Date.now();
    let stopDone = false;
    const stopping = recorder.stopAndWait().then(() => {
      stopDone = true;
      return Date.now() - stopStarted;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const asked = Date.now();
    const position = await player.getPosition();
    const answeredIn = Date.now() - asked;
    assert.ok(position > 1_000, `the player is at ${position} ms`);
    assert.ok(answeredIn < 200, `getPosition answered in ${answeredIn} ms during the stop`);
    assert.equal(stopDone, false, 'the stop was still waiting for the file meanwhile');
    // The reader goes away: the blocked write fails (EPIPE), which the client sees as a write
    // error, and the worker can tear the recording down when its stop times out.
    await reader.close();
    const stopTook = await stopping;
    assert.ok(stopTook < 4_000, `stopAndWait returned within 4 s (${stopTook} ms)`);
    await stopped;
    // The first error names the cause; queues upstream may echo it as flow errors.
    assert.equal(errors[0], 'RESOURCE_ERROR_WRITE');
  } finally {
    await pipeline.release();
    client.close();
    await reader.close().catch(() => undefined);
    await rm(fifo, { force: true });
  }
});

test("with stopOnEndOfStream the recorder stops by itself when the player's clip ends", async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const file = path.join(dir, 'stop-on-eos.webm');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${shortClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${file}`,
      stopOnEndOfStream: true,
    });
    const events: string[] = [];
    for (const name of ['Recording', 'Stopped']) recorder.on(name, () => events.push(name));
    const stopped = new Promise<void>((resolve) => recorder.on('Stopped', () => resolve()));
    await player.connect(recorder);
    await recorder.record();
    await player.play();
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no Stopped within 10 s of play')), 10_000),
    );
    await Promise.race([stopped, timeout]);
    assert.deepEqual(events, ['Recording', 'Stopped']);
    assert.equal(await recorder.getState(), 'STOP');
    const duration = await formatDuration(file);
    assert.ok(Math.abs(duration - 5) < 0.6, `recorded ${duration} s of a 5 s clip`);
    assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
  } finally {
    await pipeline.release();
    client.close();
  }
});

for (const profile of ['WEBM', 'MP4'] as const) {
  test(`releasing a recording recorder, or its whole pipeline, leaves a complete playable ${profile} file`, async () => {
    const client = await connectKurento(engine.url);
    const before = new Set(await workerPids(engine.pid));
    const pipeline = await client.create('MediaPipeline');
    const extension = profile.toLowerCase();
    const alone = path.join(dir, `released-recorder.${extension}`);
    const whole = path.join(dir, `released-pipeline.${extension}`);
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
      const first = await pipeline.create('RecorderEndpoint', {
        uri: `file://${alone}`,
        mediaProfile: profile,
      });
      const second = await pipeline.create('RecorderEndpoint', {
        uri: `file://${whole}`,
        mediaProfile: profile,
      });
      await player.connect(first);
      await player.connect(second);
      await player.play();
      await first.record();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await first.release();
      // The engine forwards the release to the worker without waiting; the file is complete (has
      // its duration) once the worker handled it.
      let aloneDuration = NaN;
      for (let deadline = Date.now() + 5_000; Date.now() < deadline;) {
        aloneDuration = await formatDuration(alone).catch(() => NaN);
        if (Number.isFinite(aloneDuration)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(Math.abs(aloneDuration - 3) < 0.6, `${aloneDuration} s of ~3 s recorded`);
      assert.deepEqual(await fileQuadrants(alone, 1.5), [...QUADRANTS]);

      await second.record();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const worker = (await workerPids(engine.pid)).find((pid) => !before.has(pid));
      assert.ok(worker !== undefined, 'the pipeline has its own worker');
      await pipeline.release();
      // The worker finishes the file before it exits.
      const deadline = Date.now() + 5_000;
      while ((await workerPids(engine.pid)).includes(worker) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const wholeDuration = await formatDuration(whole);
      assert.ok(Math.abs(wholeDuration - 3) < 0.6, `${wholeDuration} s of ~3 s recorded`);
      assert.deepEqual(await fileQuadrants(whole, 1.5), [...QUADRANTS]);
    } finally {
      await pipeline.release().catch(() => undefined);
      client.close();
    }
  });
}

for (const ending of ['stopAndWait', 'recorder.release()'] as const) {
  test(`an MP4 recording started while the player already plays, ended with ${ending}, holds what was recorded`, async () => {
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    const file = path.join(dir, `late-${ending === 'stopAndWait' ? 'stopped' : 'released'}.mp4`);
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `file://${file}`,
        mediaProfile: 'MP4',
      });
      await player.connect(recorder);
      await player.play();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await recorder.record();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      let duration = NaN;
      if (ending === 'stopAndWait') {
        await recorder.stopAndWait();
        duration = await formatDuration(file);
      } else {
        await recorder.release();
        // The engine forwards the release without waiting; the worker finishes the file.
        for (let deadline = Date.now() + 5_000; Date.now() < deadline;) {
          duration = await formatDuration(file).catch(() => NaN);
          if (Number.isFinite(duration)) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      assert.ok(Math.abs(duration - 3) < 0.6, `${duration} s of ~3 s recorded`);
      assert.ok(
        Math.abs((await lastVideoTime(file)) - 3) < 0.6,
        'the video packets span the recording',
      );
      assert.deepEqual((await streamCodecs(file)).sort(), ['aac', 'h264']);
      assert.deepEqual(await fileQuadrants(file, 1.5), [...QUADRANTS]);
      const [tone] = await fileToneLevels(file, [440], 1);
      assert.ok(tone !== undefined && tone > 0.08, `440 Hz at ${tone} in the recording`);
    } finally {
      await pipeline.release();
      client.close();
    }
  });
}

test('a write failure while recording (disk full) is an Error event RESOURCE_ERROR_NO_SPACE_LEFT', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
    // /dev/full opens like a file and fails every write with ENOSPC, as a full disk does.
    const recorder = await pipeline.create('RecorderEndpoint', { uri: 'file:///dev/full' });
    const error = new Promise<{ type: string; description: string }>((resolve) =>
      recorder.on('Error', (event: { type: string; description: string }) => resolve(event)),
    );
    await player.connect(recorder);
    await recorder.record();
    await player.play();
    const event = await error;
    assert.equal(event.type, 'RESOURCE_ERROR_NO_SPACE_LEFT');
    // Nothing more can reach the file, so the stop does not wait for it.
    const started = Date.now();
    await recorder.stopAndWait();
    assert.ok(Date.now() - started < 1_000, `stopAndWait took ${Date.now() - started} ms`);
    // The worker still serves this pipeline.
    assert.ok((await player.getPosition()) >= 0);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a recorder whose disk fills up fails alone: the other consumers of its source go on', async () => {
  // The program of an assembly feeds its RTMP bridge and its recording from the same decoded
  // picture (the recording through VP8, the bridge through H.264); a full recordings disk must
  // stop the recording and nothing else.
  const disk = await mountTinyDisk('192k');
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  let receiver: RtpReceiver | undefined;
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
    const rtp = await pipeline.create('RtpEndpoint');
    receiver = await RtpReceiver.create({ video: true, audio: true, width: 320, height: 180 });
    await player.connect(rtp);
    await receiver.start(await rtp.processOffer(receiver.offer));
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${path.join(disk.dir, 'program.webm')}`,
    });
    const error = new Promise<{ type: string }>((resolve) =>
      recorder.on('Error', (event: { type: string }) => resolve(event)),
    );
    await player.connect(recorder);
    await recorder.record();
    await player.play();
    await receiver.waitForFrames(10, 20_000);
    const event = await error;
    assert.equal(event.type, 'RESOURCE_ERROR_NO_SPACE_LEFT');
    // The RTP output keeps its picture and its sound after the recorder failed.
    const framesAtError = receiver.frames;
    const audioAtError = receiver.audioSamples;
    await receiver.waitForFrames(framesAtError + 45, 20_000);
    await receiver.waitForAudio(audioAtError / 48 + 1500, 20_000);
    assert.deepEqual(
      receiver.sample(QUADRANT_CENTRES).map(classify),
      [...QUADRANTS],
      'the RTP output still shows the clip',
    );
    await recorder.stopAndWait();
    await recorder.release();
    const framesAfterStop = receiver.frames;
    await receiver.waitForFrames(framesAfterStop + 30, 20_000);
  } finally {
    await receiver?.stop();
    await pipeline.release();
    client.close();
    await disk.remove();
  }
});
