/**
 * The library's scope (issue 12): in assembly scope, the default, each assembly has a library of
 * its own. Two assemblies upload different videos under one name and each lists, probes and
 * fetches its own; one assembly cannot list, fetch, delete, preview or cut to the other's clip
 * by its name, by a path that climbs out of its folder, or through a symlink in its own folder;
 * a video left in the top folder belongs to no assembly. In school scope every assembly shares
 * the top folder, and a second video under a name already there is refused (409) with the first
 * one's bytes unchanged. Deleting an assembly deletes its own folder, and neither another
 * assembly's clips nor the school's library. Real uploads over HTTP of small real videos made by ffmpeg, checked by
 * md5; the library listing and the cuts go through real socket.io clients.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parseAssemblyId, type AssemblyId } from '../../server/domain/ids.js';
import type { LibraryVideoWire, Reply } from '../../server/signaling/events.js';
import { makeQuadrantClip, type Quadrants } from '../helpers/media.js';
import {
  createAssembly,
  request,
  setup,
  tempDataDir,
  wireError,
  type RunningApp,
} from './appHelpers.js';
import { client, welcome, type ClientSocket } from './sockets.js';

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

/** One assembly as its crew reaches it: a moderator token and a connected moderator page. */
interface Crew {
  id: AssemblyId;
  token: string;
  socket: ClientSocket;
}

async function crew(t: TestContext, running: RunningApp, name: string): Promise<Crew> {
  const created = await createAssembly(running, name, { live: false });
  const id = parseAssemblyId(created.id);
  const socket = client(running, { token: created.moderatorToken });
  t.after(() => socket.close());
  await welcome(socket);
  return { id, token: created.moderatorToken, socket };
}

/** A real MP4 of one colour, `width`×`height`, `seconds` long, made by ffmpeg. */
async function video(
  dir: string,
  name: string,
  colour: Quadrants[number],
  size: [number, number],
  seconds: number,
): Promise<Buffer> {
  const file = await makeQuadrantClip(path.join(dir, name), [colour, colour, colour, colour], {
    seconds,
    container: 'mp4',
    width: size[0],
    height: size[1],
  });
  return readFileSync(file);
}

async function upload(
  running: RunningApp,
  who: Crew,
  name: string,
  body: Buffer,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${running.url}/api/assemblies/${who.id}/library`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${who.token}`,
      'content-type': 'video/mp4',
      'x-filename': encodeURIComponent(name),
    },
    body: new Uint8Array(body),
  });
  return { status: response.status, body: await response.json() };
}

/** GET or DELETE of a library file in `who`'s path (`name` goes into the URL as it is). */
async function file(
  running: RunningApp,
  who: Crew,
  method: 'GET' | 'DELETE',
  rawName: string,
): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(`${running.url}/api/assemblies/${who.id}/library/${rawName}`, {
    method,
    headers: { authorization: `Bearer ${who.token}` },
  });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function list(who: Crew): Promise<{ scope: string; videos: LibraryVideoWire[] }> {
  const reply = (await who.socket.timeout(60_000).emitWithAck('library:list', {})) as Reply<{
    scope: 'assembly' | 'school';
    videos: LibraryVideoWire[];
  }>;
  if (!reply.ok) throw new Error(`library:list failed: ${JSON.stringify(reply.error)}`);
  return reply.data;
}

/** The error message of a cut (or preview) to a library file; fails if it was accepted. */
async function refusedCut(
  who: Crew,
  event: 'program:cut' | 'preview:set',
  name: string,
): Promise<string> {
  const reply = (await who.socket
    .timeout(10_000)
    .emitWithAck(event, { source: 'video', file: name })) as Reply<unknown>;
  if (reply.ok) throw new Error(`${event} to '${name}' was accepted`);
  assert.equal(reply.error.code, 'invalid_argument', `${event} ${name}`);
  return reply.error.message;
}

test("in assembly scope two assemblies' same-named uploads are two clips, and neither assembly reaches the other's by name, path, symlink, delete or cut", async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const work = mkdtempSync(path.join(tmpdir(), 'montage-scope-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const library = running.app.library;
  assert.equal(library.scope, 'assembly');

  const a = await crew(t, running, 'Assembly A');
  const b = await crew(t, running, 'Assembly B');
  // Different pictures, sizes and lengths, so every answer tells whose clip it describes.
  const red = await video(work, 'red.mp4', 'red', [320, 180], 2);
  const blue = await video(work, 'blue.mp4', 'blue', [256, 144], 3);
  const green = await video(work, 'green.mp4', 'green', [320, 180], 1);
  assert.notEqual(md5(red), md5(blue));

  // Both upload clip.mp4: both are stored, neither replaces the other.
  const fromA = await upload(running, a, 'clip.mp4', red);
  assert.equal(fromA.status, 201, JSON.stringify(fromA.body));
  const fromB = await upload(running, b, 'clip.mp4', blue);
  assert.equal(fromB.status, 201, JSON.stringify(fromB.body));
  assert.deepEqual(
    [(fromB.body as { video: { width: number } }).video.width],
    [256],
    "B's upload was probed as B's clip",
  );
  assert.equal(await upload(running, a, 'only-a.mp4', green).then((r) => r.status), 201);
  assert.equal(md5(readFileSync(path.join(library.folder(a.id), 'clip.mp4'))), md5(red));
  assert.equal(md5(readFileSync(path.join(library.folder(b.id), 'clip.mp4'))), md5(blue));
  assert.equal(path.dirname(library.folder(a.id)), library.root, 'A has a folder of its own');

  // Each lists its own, with its own probe (the previews cache holds both clip.mp4s apart).
  const listedA = await list(a);
  const listedB = await list(b);
  assert.equal(listedA.scope, 'assembly');
  assert.deepEqual(
    listedA.videos.map((v) => [v.name, v.width, v.height]),
    [
      ['clip.mp4', 320, 180],
      ['only-a.mp4', 320, 180],
    ],
  );
  assert.deepEqual(
    listedB.videos.map((v) => [v.name, v.width, v.height]),
    [['clip.mp4', 256, 144]],
  );
  const duration = (listing: typeof listedA): number | null | undefined =>
    listing.videos.find((v) => v.name === 'clip.mp4')?.durationMs;
  assert.ok(Math.abs((duration(listedA) ?? 0) - 2000) < 150, `A's lasts 2 s`);
  assert.ok(Math.abs((duration(listedB) ?? 0) - 3000) < 150, `B's lasts 3 s`);
  assert.equal(listedB.videos[0]?.url, `/api/assemblies/${b.id}/library/clip.mp4`);
  // Listed again, each still its own (the cache did not swap them).
  assert.deepEqual(await list(a), listedA);
  assert.deepEqual(await list(b), listedB);

  // Each fetches its own bytes under the same name.
  const gotA = await file(running, a, 'GET', 'clip.mp4');
  const gotB = await file(running, b, 'GET', 'clip.mp4');
  assert.equal(gotA.status, 200);
  assert.equal(gotB.status, 200);
  assert.equal(md5(gotA.bytes), md5(red));
  assert.equal(md5(gotB.bytes), md5(blue));

  // A's other clip is not in B's library: not fetched (the preview player's URL), not deleted,
  // not cut to, not put on the preview.
  assert.equal((await file(running, b, 'GET', 'only-a.mp4')).status, 404);
  assert.equal((await file(running, b, 'DELETE', 'only-a.mp4')).status, 404);
  assert.match(
    await refusedCut(b, 'program:cut', 'only-a.mp4'),
    /^video file 'only-a\.mp4' is not in this assembly's library$/,
  );
  assert.match(
    await refusedCut(b, 'preview:set', 'only-a.mp4'),
    /is not in this assembly's library/,
  );
  // B's token does not open A's path either.
  const crossed = await fetch(`${running.url}/api/assemblies/${a.id}/library/only-a.mp4`, {
    headers: { authorization: `Bearer ${b.token}` },
  });
  assert.equal(crossed.status, 403);

  // Paths that climb into A's folder, encoded as a browser or curl would send them.
  for (const raw of [
    `..%2F${a.id}%2Fonly-a.mp4`,
    `%2E%2E%2F${a.id}%2Fonly-a.mp4`,
    `..%5C${a.id}%5Conly-a.mp4`,
    `${a.id}%2F..%2F${a.id}%2Fonly-a.mp4`,
  ]) {
    const got = await file(running, b, 'GET', raw);
    assert.ok(got.status === 404 || got.status === 400, `GET ${raw}: ${got.status}`);
    assert.notEqual(md5(got.bytes), md5(green), `GET ${raw} never serves A's clip`);
    const deleted = await file(running, b, 'DELETE', raw);
    assert.ok(deleted.status === 404 || deleted.status === 400, `DELETE ${raw}`);
  }
  // The URL parser folds ../ in the path itself: it lands on another route or on none.
  const folded = await fetch(
    `${running.url}/api/assemblies/${b.id}/library/../../${a.id}/library/only-a.mp4`,
    { headers: { authorization: `Bearer ${b.token}` } },
  );
  assert.equal(folded.status, 403, "B's token on A's path, once the URL is normalised");
  for (const name of [`../${a.id}/only-a.mp4`, `${a.id}/only-a.mp4`, `..\\${a.id}\\only-a.mp4`]) {
    assert.match(
      await refusedCut(b, 'program:cut', name),
      /is invalid: name a video of the library, without folders or '\.\.'/,
    );
  }

  // Symlinks in B's folder to A's clip (absolute and relative) are not B's videos.
  symlinkSync(
    path.join(library.folder(a.id), 'only-a.mp4'),
    path.join(library.folder(b.id), 'abs.mp4'),
  );
  symlinkSync(`../${a.id}/only-a.mp4`, path.join(library.folder(b.id), 'rel.mp4'));
  assert.deepEqual(
    (await list(b)).videos.map((v) => v.name),
    ['clip.mp4'],
    'a link out of the folder is not listed',
  );
  for (const link of ['abs.mp4', 'rel.mp4']) {
    assert.equal((await file(running, b, 'GET', link)).status, 404, `GET ${link}`);
    assert.match(await refusedCut(b, 'program:cut', link), /is not in this assembly's library/);
    assert.equal((await file(running, b, 'DELETE', link)).status, 404, `DELETE ${link}`);
  }
  assert.equal(md5(readFileSync(path.join(library.folder(a.id), 'only-a.mp4'))), md5(green));

  // B deletes its clip.mp4: A's stays, with its bytes.
  assert.equal((await file(running, b, 'DELETE', 'clip.mp4')).status, 204);
  assert.equal((await file(running, b, 'GET', 'clip.mp4')).status, 404);
  assert.equal(md5((await file(running, a, 'GET', 'clip.mp4')).bytes), md5(red));
  assert.deepEqual(
    (await list(a)).videos.map((v) => v.name),
    ['clip.mp4', 'only-a.mp4'],
  );

  // A video in the top folder (an upload from before scopes) is in no assembly's library, and
  // the app names it so the operator can move it.
  mkdirSync(library.root, { recursive: true });
  await video(library.root, 'legacy.mp4', 'white', [320, 180], 1);
  assert.equal((await file(running, a, 'GET', 'legacy.mp4')).status, 404);
  assert.match(await refusedCut(a, 'program:cut', 'legacy.mp4'), /not in this assembly's library/);
  assert.ok(!(await list(a)).videos.some((v) => v.name === 'legacy.mp4'));
  assert.deepEqual(library.unscopedVideos(), ['legacy.mp4']);
});

test('in school scope every assembly shares one library: both see it, and a same-named upload is refused without replacing the clip', async (t) => {
  const running = await setup(tempDataDir(), { MONTAGE_LIBRARY_SCOPE: 'school' });
  t.after(() => running.teardown());
  const work = mkdtempSync(path.join(tmpdir(), 'montage-school-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const library = running.app.library;
  assert.equal(library.scope, 'school');

  const a = await crew(t, running, 'Assembly A');
  const b = await crew(t, running, 'Assembly B');
  assert.equal(library.folder(a.id), library.root);
  assert.equal(library.folder(b.id), library.root);
  const red = await video(work, 'red.mp4', 'red', [320, 180], 2);
  const blue = await video(work, 'blue.mp4', 'blue', [256, 144], 3);

  assert.equal((await upload(running, a, 'clip.mp4', red)).status, 201);
  const again = await upload(running, b, 'clip.mp4', blue);
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.equal(wireError(again.body).code, 'already_exists');
  assert.equal(
    wireError(again.body).message,
    "a video named 'clip.mp4' is already in the school's library; upload this one under another name",
  );
  assert.equal(md5(readFileSync(path.join(library.root, 'clip.mp4'))), md5(red));

  // Both list it, as the school's, and both fetch A's bytes.
  for (const who of [a, b]) {
    const listed = await list(who);
    assert.equal(listed.scope, 'school');
    assert.deepEqual(
      listed.videos.map((v) => [v.name, v.width, v.height]),
      [['clip.mp4', 320, 180]],
    );
    const got = await file(running, who, 'GET', 'clip.mp4');
    assert.equal(got.status, 200);
    assert.equal(md5(got.bytes), md5(red));
  }

  // A file in a folder under the school's (an assembly folder of assembly scope) is not in it.
  mkdirSync(path.join(library.root, a.id));
  await video(path.join(library.root, a.id), 'inner.mp4', 'green', [320, 180], 1);
  assert.equal((await file(running, a, 'GET', 'inner.mp4')).status, 404);
  assert.equal((await file(running, a, 'GET', `${a.id}%2Finner.mp4`)).status, 404);
  assert.match(
    await refusedCut(a, 'program:cut', `${a.id}/inner.mp4`),
    /without folders or '\.\.'/,
  );
  symlinkSync(path.join(a.id, 'inner.mp4'), path.join(library.root, 'link.mp4'));
  assert.equal((await file(running, a, 'GET', 'link.mp4')).status, 404);
  assert.deepEqual(library.unscopedVideos(), [], 'in school scope the top folder is the library');

  // B deletes the shared clip: it is gone for A too, as a shared library's must be.
  assert.equal((await file(running, b, 'DELETE', 'clip.mp4')).status, 204);
  assert.equal(existsSync(path.join(library.root, 'clip.mp4')), false);
  assert.deepEqual((await list(a)).videos, []);
});

test("the clip previews tell two assemblies' same-named clips apart even when their size and time are the same", async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const work = mkdtempSync(path.join(tmpdir(), 'montage-previews-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const library = running.app.library;
  const a = await crew(t, running, 'Assembly A');
  const b = await crew(t, running, 'Assembly B');
  // Two clips of different sizes with their index at the front, cut to one length: ffprobe
  // still reads each one's picture size, and only the folder tells the two files apart.
  const clips = await Promise.all(
    (
      [
        ['red', [320, 180]],
        ['blue', [256, 144]],
      ] as const
    ).map(async ([colour, size]) => {
      const raw = await makeQuadrantClip(
        path.join(work, `${colour}-raw.mp4`),
        [colour, colour, colour, colour],
        { seconds: 2, container: 'mp4', width: size[0], height: size[1] },
      );
      const faststart = path.join(work, `${colour}.mp4`);
      await promisify(execFile)('ffmpeg', [
        ...['-v', 'error', '-y', '-i', raw, '-c', 'copy', '-movflags', '+faststart', faststart],
      ]);
      return readFileSync(faststart);
    }),
  );
  const length = Math.min(...clips.map((clip) => clip.length));
  const time = new Date('2026-01-01T00:00:00Z');
  for (const [who, clip] of [
    [a, clips[0]],
    [b, clips[1]],
  ] as const) {
    const folder = library.folder(who.id);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'clip.mp4'), clip?.subarray(0, length) ?? '');
    utimesSync(path.join(folder, 'clip.mp4'), time, time);
  }
  const size = async (who: Crew): Promise<string> => {
    const clip = (await list(who)).videos.find((video) => video.name === 'clip.mp4');
    return `${String(clip?.width)}x${String(clip?.height)}`;
  };
  assert.equal(await size(a), '320x180');
  assert.equal(await size(b), '256x144', "B's clip, not A's preview from the cache");
  assert.equal(await size(a), '320x180', "A's clip, not B's preview from the cache");
});

test("deleting an assembly deletes its own library with it, never another assembly's, and never the school's", async (t) => {
  const work = mkdtempSync(path.join(tmpdir(), 'montage-deleted-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const red = await video(work, 'red.mp4', 'red', [320, 180], 1);
  const blue = await video(work, 'blue.mp4', 'blue', [256, 144], 1);
  const remove = async (running: RunningApp, who: Crew): Promise<void> => {
    const url = `${running.url}/api/assemblies/${who.id}`;
    assert.equal((await request(url, 'DELETE', running.operatorToken)).status, 204);
  };

  // Assembly scope: A's folder and clips go with A; B's clip of the same name stays, whole.
  const scoped = await setup();
  t.after(() => scoped.teardown());
  const a = await crew(t, scoped, 'Assembly A');
  const b = await crew(t, scoped, 'Assembly B');
  assert.equal((await upload(scoped, a, 'clip.mp4', red)).status, 201);
  assert.equal((await upload(scoped, a, 'other.mp4', red)).status, 201);
  assert.equal((await upload(scoped, b, 'clip.mp4', blue)).status, 201);
  const folderOfA = scoped.app.library.folder(a.id);
  assert.equal(existsSync(path.join(folderOfA, 'clip.mp4')), true);
  await remove(scoped, a);
  assert.equal(existsSync(folderOfA), false, "A's folder is gone");
  assert.deepEqual(
    (await list(b)).videos.map((v) => v.name),
    ['clip.mp4'],
  );
  assert.equal(md5((await file(scoped, b, 'GET', 'clip.mp4')).bytes), md5(blue));

  // School scope: the library is everyone's, and stays when an assembly is deleted.
  const school = await setup(tempDataDir(), { MONTAGE_LIBRARY_SCOPE: 'school' });
  t.after(() => school.teardown());
  const c = await crew(t, school, 'Assembly C');
  const d = await crew(t, school, 'Assembly D');
  assert.equal((await upload(school, c, 'clip.mp4', red)).status, 201);
  await remove(school, c);
  assert.equal(md5((await file(school, d, 'GET', 'clip.mp4')).bytes), md5(red));
  assert.deepEqual(
    (await list(d)).videos.map((v) => v.name),
    ['clip.mp4'],
  );
});
