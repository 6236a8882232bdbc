/**
 * Uploads known to be video (issue 12): every upload is probed before it enters the library.
 * A text file named .mp4, an MP4 truncated to two fifths (its index at the front, so ffprobe
 * still reports the full duration) and an MP4 with no video track are refused with a clear message and leave nothing behind; a good clip is stored with the probe's
 * duration and size; and an upload never replaces a clip of the same name (409, the old file's
 * bytes unchanged). Real ffmpeg makes the files and real ffprobe/ffmpeg check them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { makeQuadrantClip } from '../helpers/media.js';
import { createAssembly, setup, wireError, type RunningApp } from './appHelpers.js';

const run = promisify(execFile);

async function upload(
  running: RunningApp,
  assemblyId: string,
  token: string,
  name: string,
  body: Buffer | string,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${running.url}/api/assemblies/${assemblyId}/library`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'x-filename': encodeURIComponent(name),
    },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: response.status, body: await response.json() };
}

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

test('uploads that are no playable video are refused with a clear message and leave the library unchanged; a good one is stored with its probed duration and size; a same-named upload never replaces a clip', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const work = mkdtempSync(path.join(tmpdir(), 'montage-uploads-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const assembly = await createAssembly(running);
  const token = running.app.core.invites.mint(
    'test',
    parseAssemblyId(assembly.id),
    'presenter',
    3600,
  ).token;
  const folder = running.app.library.folder(parseAssemblyId(assembly.id));

  // The media: a good clip (index at the front), its truncation and its audio alone.
  const clip = await makeQuadrantClip(path.join(work, 'clip.mp4'), ['red', 'red', 'red', 'red'], {
    seconds: 4,
    container: 'mp4',
    width: 320,
    height: 180,
  });
  const faststart = path.join(work, 'faststart.mp4');
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    clip,
    '-c',
    'copy',
    '-movflags',
    '+faststart',
    faststart,
  ]);
  const good = readFileSync(faststart);
  const audioOnly = path.join(work, 'audio.mp4');
  await run('ffmpeg', ['-v', 'error', '-y', '-i', clip, '-vn', '-c:a', 'copy', audioOnly]);
  // ffprobe on the truncated file still reports the whole clip: only decoding its end tells.
  const truncated = good.subarray(0, Math.floor(good.length * 0.4));
  const truncatedFile = path.join(work, 'truncated.mp4');
  writeFileSync(truncatedFile, truncated);
  const probed = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', truncatedFile],
  ]);
  assert.equal(Number(probed.stdout.trim()), 4, 'ffprobe alone takes the truncated file for 4 s');

  const library = (): string[] => {
    try {
      return readdirSync(folder).sort();
    } catch {
      return [];
    }
  };
  const before = library();

  const refusals: Array<[string, Buffer | string, RegExp]> = [
    [
      'notvideo.mp4',
      'this is not a video\n',
      /'notvideo\.mp4' is not a video file that can be played/,
    ],
    [
      'truncated.mp4',
      truncated,
      /'truncated\.mp4' cannot be decoded at its end: it is truncated or damaged/,
    ],
    ['audio-only.mp4', readFileSync(audioOnly), /'audio-only\.mp4' has no video track/],
  ];
  for (const [name, body, message] of refusals) {
    const response = await upload(running, assembly.id, token, name, body);
    assert.equal(response.status, 400, `${name}: ${JSON.stringify(response.body)}`);
    assert.equal(wireError(response.body).code, 'invalid_argument', name);
    assert.match(wireError(response.body).message, message, name);
    // Nothing of it is kept, not even the partial upload.
    assert.deepEqual(library(), before, `${name} left the library unchanged`);
  }

  // A good clip enters with what the probe read.
  const stored = await upload(running, assembly.id, token, 'clip.mp4', good);
  assert.equal(stored.status, 201, JSON.stringify(stored.body));
  const video = (stored.body as { video: Record<string, unknown> }).video;
  assert.equal(video.name, 'clip.mp4');
  assert.equal(video.width, 320);
  assert.equal(video.height, 180);
  assert.ok(
    Math.abs(Number(video.durationMs) - 4000) < 150,
    `lasts 4 s: ${String(video.durationMs)}`,
  );
  assert.deepEqual(library(), [...before, 'clip.mp4'].sort());

  // Another file under the same name is refused; the stored clip keeps its bytes.
  const other = await makeQuadrantClip(
    path.join(work, 'other.mp4'),
    ['blue', 'blue', 'blue', 'blue'],
    {
      seconds: 2,
      container: 'mp4',
      width: 320,
      height: 180,
    },
  );
  const again = await upload(running, assembly.id, token, 'clip.mp4', readFileSync(other));
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.equal(wireError(again.body).code, 'already_exists');
  assert.match(
    wireError(again.body).message,
    /a video named 'clip\.mp4' is already in this assembly's library; upload this one under another name/,
  );
  assert.equal(md5(readFileSync(path.join(folder, 'clip.mp4'))), md5(good));
  assert.deepEqual(library(), [...before, 'clip.mp4'].sort());
});
