/**
 * Free-space warnings and the recording minimum on real small file systems (tmpfs mounts this
 * file makes and removes itself): DiskSpace alone for the warnings of two folders, their log
 * lines and metrics, then the app refusing to turn recording on over REST and signaling.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { DiskSpace, freeBytes, type DiskWarning } from '../../server/domain/DiskSpace.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { Logger } from '../../server/log.js';
import { MetricsRegistry } from '../../server/metrics/MetricsRegistry.js';
import { mountTinyDisk, type TinyDisk } from '../helpers/tmpfs.js';
import { createAssembly, request, setup, wireError } from './appHelpers.js';
import { client, welcome } from './sockets.js';

const MB = 1024 * 1024;
const disks: TinyDisk[] = [];

after(async () => {
  for (const disk of disks) await disk.remove();
});

async function tinyDisk(size: string): Promise<TinyDisk> {
  const disk = await mountTinyDisk(size);
  disks.push(disk);
  return disk;
}

/** Writes a file that leaves `leaveMb` MiB free on the disk of `dir`. */
async function fillTo(dir: string, name: string, leaveMb: number): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, Buffer.alloc(Math.max(0, freeBytes(dir) - leaveMb * MB), 1));
  return file;
}

test('a folder under the threshold is warned about once, with its free space, in the metrics too, and cleared when its space is back', async () => {
  const recordings = await tinyDisk('8m');
  const hls = await tinyDisk('8m');
  const lines: string[] = [];
  const metrics = new MetricsRegistry();
  const disk = new DiskSpace({
    // The recordings folder does not exist yet: its disk is checked through its parent.
    folders: [
      { kind: 'recordings', path: path.join(recordings.dir, 'not-yet') },
      { kind: 'hls', path: hls.dir },
    ],
    warnFreeMb: 4,
    minFreeMb: 2,
    intervalMs: 60_000,
    metrics,
    logger: new Logger('info', { write: (line: string) => lines.push(line) }),
  });
  const changes: DiskWarning[][] = [];
  disk.on('changed', (warnings) => changes.push(warnings));

  await disk.check();
  assert.deepEqual(disk.warnings, []);
  assert.deepEqual(changes, [], 'nothing to say while both have space');
  assert.match(metrics.render(), /montage_disk_low\{folder="hls",path="[^"]+"\} 0/);

  const filler = await fillTo(hls.dir, 'filler', 3);
  const checking = disk.check();
  assert.equal(disk.check(), checking, 'a check asked for while one runs joins it');
  await checking;
  await disk.check();
  assert.equal(changes.length, 1, 'one change, however many checks');
  assert.deepEqual(disk.warnings, [{ kind: 'hls', path: hls.dir, freeMb: 3, thresholdMb: 4 }]);
  assert.equal(lines.filter((line) => line.includes('disk space low')).length, 1, lines.join());
  assert.match(
    metrics.render(),
    new RegExp(`montage_disk_low\\{folder="hls",path="${hls.dir}"\\} 1`),
  );
  assert.match(
    metrics.render(),
    new RegExp(`montage_disk_free_bytes\\{folder="hls",path="${hls.dir}"\\} ${freeBytes(hls.dir)}`),
  );

  // Just over the threshold is not yet "back" (a disk hovering there must not flap).
  await rm(filler);
  await fillTo(hls.dir, 'filler', 4);
  await disk.check();
  assert.equal(disk.warnings.length, 1, 'still low right above the threshold');
  await rm(filler);
  await disk.check();
  assert.deepEqual(disk.warnings, []);
  assert.deepEqual(changes.at(-1), [], 'told that the warning is gone');
  assert.equal(lines.filter((line) => line.includes('disk space back')).length, 1);
  assert.match(
    metrics.render(),
    new RegExp(`montage_disk_low\\{folder="hls",path="${hls.dir}"\\} 0`),
  );

  // The hard minimum: below it a recording may not start.
  disk.assertRecordingSpace();
  await fillTo(recordings.dir, 'filler', 1);
  assert.throws(() => disk.assertRecordingSpace(), {
    name: 'DiskFullError',
    message:
      /recordings disk is almost full: .* has 1 MB free, and a recording needs at least 2 MB/,
  });
});

test('recording is refused over REST and signaling while the recordings disk is under the minimum, and a moderator is welcomed with the warnings', async (t) => {
  const recordings = await tinyDisk('4m');
  const running = await setup(undefined, {
    MONTAGE_RECORDINGS_DIR: recordings.dir,
    MONTAGE_DISK_WARN_FREE_MB: '3',
    MONTAGE_DISK_MIN_FREE_MB: '2',
  });
  t.after(() => running.teardown());
  const { id, moderatorToken } = await createAssembly(running);
  await fillTo(recordings.dir, 'filler', 1);
  await running.app.disk.check();
  // The app watches the recordings folder and the local edge's (its HLS).
  const metrics = await (await fetch(`${running.url}/metrics`)).text();
  assert.match(
    metrics,
    new RegExp(`montage_disk_low\\{folder="recordings",path="${recordings.dir}"\\} 1`),
  );
  assert.match(
    metrics,
    new RegExp(`montage_disk_free_bytes\\{folder="hls",path="${running.dataDir}/edge"\\} \\d+`),
  );

  const patched = await request(`${running.url}/api/assemblies/${id}`, 'PATCH', moderatorToken, {
    recording: true,
  });
  assert.equal(patched.status, 507);
  assert.equal(wireError(patched.body).code, 'disk_full');
  assert.match(wireError(patched.body).message, /MONTAGE_DISK_MIN_FREE_MB/);

  const moderator = client(running, { token: moderatorToken, assembly: id });
  t.after(() => moderator.close());
  const welcomed = await welcome(moderator);
  assert.deepEqual(welcomed.diskWarnings, [
    { kind: 'recordings', path: recordings.dir, freeMb: 1, thresholdMb: 3 },
  ]);
  const refused = (await moderator.timeout(10_000).emitWithAck('recording:set', { on: true })) as {
    ok: boolean;
    error?: { code: string };
  };
  assert.equal(refused.ok, false);
  assert.equal(refused.error?.code, 'disk_full');
  assert.equal(running.app.core.assemblies.get(parseAssemblyId(id)).recording, false);
});

test('a warning threshold under the minimum is refused at start', async () => {
  const { loadAppConfig } = await import('../../server/config.js');
  assert.throws(
    () =>
      loadAppConfig({
        env: { MONTAGE_DISK_WARN_FREE_MB: '10', MONTAGE_DISK_MIN_FREE_MB: '20' },
        envFile: null,
      }),
    /MONTAGE_DISK_WARN_FREE_MB=10 is below MONTAGE_DISK_MIN_FREE_MB=20/,
  );
  assert.throws(
    () => loadAppConfig({ env: { MONTAGE_DISK_WARN_FREE_MB: 'lots' }, envFile: null }),
    /MONTAGE_DISK_WARN_FREE_MB=lots is invalid: expected an integer from 0 to 1048576/,
  );
});
