/**
 * The archive over REST with the real app server, SQLite, ffprobe and files: a recording the
 * media layer reports is listed with its date, duration (ffprobe), size and deletion date; it
 * plays with HTTP range requests (206, Content-Range, the very bytes of the file), downloads as
 * an attachment, and a moderator deletes it (file, row, audit). Retention deletes a recording
 * whose date is past the retention period, file and row, when the server starts, and logs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { RecordingView } from '../../server/domain/Archive.js';
import { newRecordingId, parseAssemblyId } from '../../server/domain/ids.js';
import { RecordingStore } from '../../server/store/RecordingStore.js';
import { mintToken } from '../e2e/stack.js';
import type { Reply } from '../../server/signaling/events.js';
import { createAssembly, request, setup, tempDataDir, wireError } from './appHelpers.js';
import { client, welcome } from './sockets.js';

const run = promisify(execFile);

/** A real 2 s WebM (VP8), as the recorder writes them, in the recordings folder. */
async function makeRecordingFile(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  await run('mkdir', ['-p', dir]);
  await run('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x180:rate=15:duration=2',
    '-c:v',
    'libvpx',
    '-b:v',
    '300k',
    '-y',
    file,
  ]);
  return file;
}

test('a recording is listed with date, duration and size, plays with byte ranges, downloads, and a moderator deletes it', async (t) => {
  const running = await setup(tempDataDir(), { MONTAGE_RECORDING_RETENTION_DAYS: '7' });
  t.after(() => running.teardown());
  const { id, moderatorToken } = await createAssembly(running, 'Friday: choir & band');
  const assemblyId = parseAssemblyId(id);
  const dir = running.app.config.recordingsDir;
  const file = await makeRecordingFile(dir, `${id}-2026-12-06T07-00-00-000Z.webm`);
  const bytes = readFileSync(file);

  const api = `${running.url}/api/assemblies/${id}/recordings`;
  running.app.archive.recordingStarted(assemblyId, file);
  let listed = await request(api, 'GET', moderatorToken);
  assert.equal(listed.status, 200);
  let [recording] = (listed.body as { recordings: RecordingView[] }).recordings;
  assert.equal(recording?.state, 'recording', 'listed while it records');
  running.app.archive.recordingFinished(file);
  await running.app.archive.settled();

  listed = await request(api, 'GET', moderatorToken);
  const body = listed.body as { recordings: RecordingView[]; retentionDays: number };
  assert.equal(body.retentionDays, 7);
  [recording] = body.recordings;
  assert.ok(recording !== undefined);
  assert.equal(recording.state, 'finished');
  assert.equal(recording.assemblyName, 'Friday: choir & band');
  assert.equal(recording.sizeBytes, bytes.length);
  assert.equal(recording.failure, null, 'stopped, not cut short');
  assert.ok(
    recording.durationMs !== null && Math.abs(recording.durationMs - 2000) < 300,
    `duration ${recording.durationMs}`,
  );
  assert.ok(Math.abs(Date.parse(recording.startedAt) - Date.now()) < 60_000);
  assert.equal(
    Date.parse(recording.deletesAt ?? '') - Date.parse(recording.startedAt),
    7 * 24 * 3600 * 1000,
    'deleted seven days after its start',
  );

  // Playback: a byte range is answered 206 with the file's very bytes.
  const fileUrl = `${api}/${recording.id}/file`;
  const ranged = await fetch(fileUrl, {
    headers: { authorization: `Bearer ${moderatorToken}`, range: 'bytes=100-1099' },
  });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-range'), `bytes 100-1099/${bytes.length}`);
  assert.equal(ranged.headers.get('accept-ranges'), 'bytes');
  assert.equal(ranged.headers.get('content-type'), 'video/webm');
  assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(100, 1100));
  // An open-ended range, with the token in the query as a <video> element sends it.
  const tail = await fetch(`${fileUrl}?token=${moderatorToken}`, {
    headers: { range: `bytes=${bytes.length - 500}-` },
  });
  assert.equal(tail.status, 206);
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 500));
  const outside = await fetch(fileUrl, {
    headers: { authorization: `Bearer ${moderatorToken}`, range: `bytes=${bytes.length + 10}-` },
  });
  assert.equal(outside.status, 416);

  // Download: the whole file as an attachment named after the assembly and the date.
  const download = await fetch(`${api}/${recording.id}/download?token=${moderatorToken}`);
  assert.equal(download.status, 200);
  assert.match(
    download.headers.get('content-disposition') ?? '',
    /^attachment; filename="Friday_ choir _ band \d{4}-\d\d-\d\d \d{4}\.webm"$/,
  );
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes);

  // Refusals: a viewer, another assembly's moderator, bad ids, unknown query keys.
  const viewer = mintToken(running.app, id, 'viewer');
  const refused = await request(api, 'GET', viewer);
  assert.equal(refused.status, 403);
  const other = await createAssembly(running, 'Other');
  const foreign = await request(
    `${running.url}/api/assemblies/${other.id}/recordings/${recording.id}/file`,
    'GET',
    other.moderatorToken,
  );
  assert.equal(foreign.status, 404);
  assert.equal(wireError(foreign.body).code, 'recording_not_found');
  const badId = await request(`${api}/nope/file`, 'GET', moderatorToken);
  assert.equal(badId.status, 400);
  assert.match(wireError(badId.body).message, /the recording id in the path 'nope' is invalid/);
  const badQuery = await request(`${fileUrl}?token=${moderatorToken}&x=1`, 'GET');
  assert.equal(badQuery.status, 400);
  assert.match(wireError(badQuery.body).message, /query parameter 'x' is not known/);
  const noToken = await request(fileUrl, 'GET');
  assert.equal(noToken.status, 401);
  const viewerDelete = await request(`${api}/${recording.id}`, 'DELETE', viewer);
  assert.equal(viewerDelete.status, 403);

  // A moderator deletes it: the file and the row go, the audit log says who.
  const deleted = await request(`${api}/${recording.id}`, 'DELETE', moderatorToken);
  assert.equal(deleted.status, 204);
  assert.equal(existsSync(file), false, 'the file is deleted');
  listed = await request(api, 'GET', moderatorToken);
  assert.deepEqual((listed.body as { recordings: RecordingView[] }).recordings, []);
  const entry = running.app.core.audit.recent(10).find((e) => e.action === 'recording.delete');
  assert.equal(entry?.actor, `moderator@${id}`);
  assert.equal(entry?.details.recording, recording.id);
  const again = await request(`${api}/${recording.id}`, 'DELETE', moderatorToken);
  assert.equal(again.status, 404);
});

test('retention deletes a recording whose date is past the retention period, file and row, and logs it; a recent one stays', async (t) => {
  const dataDir = tempDataDir();
  const first = await setup(dataDir, { MONTAGE_RECORDING_RETENTION_DAYS: '2' });
  const { id } = await createAssembly(first, 'Old assembly');
  const assemblyId = parseAssemblyId(id);
  const dir = first.app.config.recordingsDir;
  const store = new RecordingStore(first.app.core.db);
  const dayMs = 24 * 3600 * 1000;
  mkdirSync(dir, { recursive: true });
  const rows = [
    { name: `${id}-old.webm`, startedAt: new Date(Date.now() - 3 * dayMs).toISOString() },
    { name: `${id}-new.webm`, startedAt: new Date(Date.now() - 1 * dayMs).toISOString() },
  ].map(({ name, startedAt }) => {
    const recording = {
      id: newRecordingId(),
      assemblyId,
      assemblyName: 'Old assembly',
      file: name,
      state: 'finished' as const,
      startedAt,
      finishedAt: startedAt,
      durationMs: 1000,
      sizeBytes: 5,
      failure: undefined,
    };
    store.insert(recording);
    writeFileSync(join(dir, name), 'bytes');
    utimesSync(join(dir, name), new Date(startedAt), new Date(startedAt));
    return recording;
  });
  await first.teardown({ keepData: true });

  // Retention runs when the server starts (and every hour after).
  const lines: string[] = [];
  const { App } = await import('../../server/App.js');
  const { loadAppConfig } = await import('../../server/config.js');
  const { Logger } = await import('../../server/log.js');
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RECORDING_RETENTION_DAYS: '2',
    },
    envFile: null,
  });
  const app = new App(config, {
    logger: new Logger('info', { write: (line: string) => lines.push(line) }),
    media: false,
  });
  await app.start();
  t.after(async () => {
    await app.stop();
    const { rmSync } = await import('node:fs');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const [old, recent] = rows;
  assert.ok(old !== undefined && recent !== undefined);
  assert.equal(existsSync(join(dir, old.file)), false, 'the old file is deleted');
  assert.equal(existsSync(join(dir, recent.file)), true, 'the recent file stays');
  assert.deepEqual(
    app.archive.list(assemblyId).map((r) => r.id),
    [recent.id],
    'only the recent row is left',
  );
  const logged = lines
    .map((line) => JSON.parse(line) as { msg: string; recording?: string; retentionDays?: number })
    .find((line) => line.msg === 'retention deleted a recording');
  assert.equal(logged?.recording, old.id);
  assert.equal(logged?.retentionDays, 2);
  const audit = app.core.audit.recent(10).find((e) => e.action === 'recording.expire');
  assert.equal(audit?.actor, 'retention');
  assert.equal(audit?.assemblyId, id);
});

test('chapters over REST: Go live first once live, none backstage, any invited role reads them, bad requests are refused with the reason', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const live = await createAssembly(running, 'Live one');
  const backstage = await createAssembly(running, 'Backstage one', { live: false });
  const viewer = mintToken(running.app, live.id, 'viewer');
  const url = (id: string): string => `${running.url}/api/assemblies/${id}/chapters`;

  const read = await request(url(live.id), 'GET', viewer);
  assert.equal(read.status, 200);
  const { chapters } = read.body as {
    chapters: Array<{ atMs: number; at: string; kind: string; title: string }>;
  };
  assert.equal(chapters.length, 1);
  assert.equal(chapters[0]?.kind, 'live');
  assert.equal(chapters[0]?.title, 'Go live');
  assert.equal(chapters[0]?.at, new Date(chapters[0]?.atMs ?? 0).toISOString());
  const wentLiveAt = running.app.core.assemblies.get(parseAssemblyId(live.id)).wentLiveAt;
  assert.equal(chapters[0]?.at, wentLiveAt);

  const none = await request(url(backstage.id), 'GET', backstage.moderatorToken);
  assert.deepEqual((none.body as { chapters: unknown[] }).chapters, []);
  const foreign = await request(url(backstage.id), 'GET', viewer);
  assert.equal(foreign.status, 403);
  const anonymous = await request(url(live.id), 'GET');
  assert.equal(anonymous.status, 401);
  const query = await request(`${url(live.id)}?from=0`, 'GET', viewer);
  assert.equal(query.status, 400);
  assert.match(wireError(query.body).message, /query parameter 'from' is not known/);
});

test('reactions in time: stored at the program time the viewer sends, read back by window, totals for the whole assembly survive a restart, bad times and windows are refused', async (t) => {
  const dataDir = tempDataDir();
  const first = await setup(dataDir);
  // Stops the first server when the test fails before it restarts (stop() is idempotent).
  t.after(() => first.teardown({ keepData: true }));
  const { id } = await createAssembly(first, 'Reacting');
  const viewerToken = mintToken(first.app, id, 'viewer');
  const viewer = client(first, { token: viewerToken, assembly: id });
  await welcome(viewer);
  const ask = async (payload: unknown): Promise<Reply<null>> =>
    (await (
      viewer.timeout(10_000) as unknown as {
        emitWithAck: (e: string, p: unknown) => Promise<unknown>;
      }
    ).emitWithAck('reaction:send', payload)) as Reply<null>;
  // 100 ms into a second, so both claps (300 ms apart) fall in the same stored second.
  const past = Math.floor((Date.now() - 90_000) / 1000) * 1000 + 100;
  assert.ok((await ask({ reaction: 'clap', at: past })).ok);
  assert.ok((await ask({ reaction: 'clap', at: past + 300 })).ok);
  assert.ok((await ask({ reaction: 'heart' })).ok);
  const future = await ask({ reaction: 'clap', at: Date.now() + 60_000 });
  assert.equal(future.ok, false);
  assert.match(future.ok ? '' : future.error.message, /reaction:send.at must be the program time/);
  const text = await ask({ reaction: 'clap', at: 'now' });
  assert.equal(text.ok, false);
  assert.match(text.ok ? '' : text.error.message, /reaction:send.at must be an integer/);
  // Stored once the second's tick has passed; the socket leaving stores the rest.
  viewer.close();
  const url = (query: string): string => `${first.url}/api/assemblies/${id}/reactions?${query}`;
  const second = Math.floor(past / 1000) * 1000;
  const stored = await until(async () => {
    const { body } = await request(
      url(`from=${second - 1000}&to=${second + 2000}`),
      'GET',
      viewerToken,
    );
    const reactions = (body as { reactions: unknown[] }).reactions;
    return reactions.length > 0 ? (body as { totals: unknown; reactions: unknown }) : undefined;
  });
  assert.deepEqual(stored.reactions, [{ atMs: second, reaction: 'clap', count: 2 }]);
  assert.deepEqual(stored.totals, { clap: 2, heart: 1 });
  for (const [query, message] of [
    ['from=10', /query.to must be a program time/],
    [`from=${second}&to=${second}`, /query.to must be after query.from by at most 600000 ms/],
    [`from=0&to=${second}`, /at most 600000 ms/],
    [`from=-5&to=10`, /query.from must be a program time/],
    [`from=1&to=2&x=3`, /query parameter 'x' is not known/],
  ] as const) {
    const refused = await request(url(query), 'GET', viewerToken);
    assert.equal(refused.status, 400, query);
    assert.match(wireError(refused.body).message, message);
  }
  await first.teardown({ keepData: true });

  // After a restart a new page's welcome has the totals of the whole assembly.
  const again = await setup(dataDir);
  t.after(() => again.teardown());
  const moderator = client(again, { token: mintToken(again.app, id, 'moderator'), assembly: id });
  t.after(() => moderator.close());
  assert.deepEqual((await welcome(moderator)).reactionTotals, { clap: 2, heart: 1 });
});

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
