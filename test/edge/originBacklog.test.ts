/**
 * A player of the origin that stops reading (a stalled rendition encoder, an edge on a slow
 * link) must not make the app queue the stream for it in memory without end: a soak run found
 * 47 MB queued for one stalled ffmpeg. The real origin, a real ffmpeg publishing a heavy
 * stream (noise at a high bit rate, so the kernel's socket buffers fill within seconds) and a
 * real ffmpeg player that the test stops with SIGSTOP.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { RtmpOrigin, streamName, type RtmpOriginEvents } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import { EDGE_SECRET, spawnTestProcess, type TestProcess } from './helpers.js';

const stream = streamName('assembly-backlog');
const KEY = 'stream-key-assembly-backlog-1';
const MAX_BACKLOG = 1024 * 1024;
/** Generous: only the machine's load decides how soon the buffers fill. */
const FILL_MS = 60_000;

let origin: RtmpOrigin;
let folder: string;
let publisher: TestProcess;

const run = promisify(execFile);

before(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'montage-backlog-'));
  // Two seconds of noise at a very high bit rate, published in a loop without re-encoding.
  const clip = path.join(folder, 'noise.flv');
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'color=gray:s=640x360:r=30,noise=alls=100:allf=t+u'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '2'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '10', '-g', '30', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-f', 'flv', clip],
  ]);
  origin = new RtmpOrigin({
    port: await freePort(),
    edgeSecret: EDGE_SECRET,
    maxReaderBacklogBytes: MAX_BACKLOG,
  });
  await origin.start();
  origin.allowStream(stream, KEY);
  const live = once(origin, 'publishStarted');
  publisher = spawnTestProcess('ffmpeg', [
    ...['-v', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'flv'],
    `rtmp://127.0.0.1:${origin.port}/live/${stream}?key=${KEY}`,
  ]);
  await live;
});

after(async () => {
  await publisher.stop();
  await origin.stop();
  await rm(folder, { recursive: true, force: true });
});

test('a player that stops reading is dropped once its unsent backlog passes the limit; the stream goes on', async () => {
  type SlowReader = RtmpOriginEvents['slowReader'][0];
  const slow = new Promise<SlowReader>((resolve) => origin.once('slowReader', resolve));
  const player = spawnTestProcess('ffmpeg', [
    ...['-v', 'error', '-stats'],
    ...['-i', `rtmp://127.0.0.1:${origin.port}/live/${stream}?secret=${EDGE_SECRET}`],
    ...['-c', 'copy', '-f', 'null', '-'],
  ]);
  const pid = player.child.pid;
  assert.ok(pid !== undefined);
  try {
    // Once it plays (its progress line counts frames), it stops reading.
    const deadline = Date.now() + FILL_MS;
    while (!/frame=\s*[1-9]/.test(player.stderr())) {
      assert.ok(Date.now() < deadline, `the player never started: ${player.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(player.child.exitCode, null, `the player ended: ${player.stderr()}`);
    process.kill(pid, 'SIGSTOP');
    let timer: NodeJS.Timeout | undefined;
    const event = await Promise.race([
      slow,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error('the stalled player was never dropped')),
          FILL_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(event.kind, 'play');
    assert.equal(event.stream, stream);
    assert.ok(event.backlogBytes > MAX_BACKLOG, `dropped at ${event.backlogBytes} bytes`);
    assert.ok(
      event.backlogBytes < MAX_BACKLOG + 4 * 1024 * 1024,
      `${event.backlogBytes} bytes were queued: the limit is checked before each message`,
    );
    // The publisher was not held back by its stalled reader.
    assert.equal(origin.isLive(stream), true);
    // Woken up, the player finds its connection closed and ends.
    process.kill(pid, 'SIGCONT');
    const code = await player.exited;
    assert.notEqual(code, null, 'ffmpeg ended on its own');
  } finally {
    if (player.child.exitCode === null && player.child.signalCode === null) {
      process.kill(pid, 'SIGCONT');
    }
    await player.stop();
  }
});
