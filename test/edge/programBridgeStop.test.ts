/**
 * A stopped ProgramBridge stays stopped. ffmpeg prints a last progress line as it exits on
 * SIGTERM; when that line came before the bridge had ever seen progress, it used to set the
 * state back to running, the exit then looked like a crash, and the bridge restarted ffmpeg
 * every few seconds forever (on the temp folder stop() had removed), keeping the process alive.
 * A stand-in for ffmpeg reproduces exactly that exit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProgramBridge } from '../../server/bridge/ProgramBridge.js';

test('a bridge stopped before ffmpeg reported progress does not restart it when ffmpeg says goodbye', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'montage-bridge-stop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Silent until SIGTERM, then one progress line on stderr and a failing exit, as ffmpeg does.
  const fakeFfmpeg = path.join(dir, 'ffmpeg');
  await writeFile(
    fakeFfmpeg,
    '#!/bin/sh\ntrap \'echo "frame=   12 fps=0.0" >&2; exit 255\' TERM\nwhile :; do sleep 0.05; done\n',
  );
  await chmod(fakeFfmpeg, 0o755);
  const bridge = new ProgramBridge({
    name: 'stop-test',
    rtp: { videoPort: 40_000, audioPort: 40_002 },
    publishUrl: 'rtmp://127.0.0.1:1/live/stop-test',
    ffmpeg: fakeFfmpeg,
    restartDelayMs: 50,
  });
  const spawned: number[] = [];
  bridge.on('spawned', (pid) => spawned.push(pid));
  let exits = 0;
  bridge.on('exited', () => (exits += 1));
  await bridge.start();
  if (spawned.length === 0) await once(bridge, 'spawned');
  // Let the shell install its trap before it is signalled.
  await sleep(200);
  await bridge.stop();
  // Several restart delays pass: nothing may be spawned again.
  await sleep(500);
  assert.equal(bridge.state, 'stopped');
  assert.equal(exits, 0, 'the exit after stop() is not a crash');
  assert.equal(spawned.length, 1, 'ffmpeg was not restarted');
});
