/**
 * Where players may read and recorders may write (kms/src/objects/UriPolicy.ts), through
 * kurento-client: with KMS_FILE_ROOTS only files under the roots (symbolic links resolved), and
 * players never fetch loopback, link-local or metadata hosts (numeric disguises included) unless
 * KMS_PLAYER_ALLOWED_HOSTS lists them; recorders upload to such hosts only if
 * KMS_RECORDER_ALLOWED_HOSTS lists them. Refusals are 40001 errors at create, naming the setting.
 * Host names are resolved too: one engine runs in a mount namespace of its own whose /etc/hosts
 * points made-up names at internal addresses.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { startEngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { startTestEngine } from './helpers.js';

let dir: string;
let root: string;
let rooted: RunningEngine;
let listed: RunningEngine;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'montage-uris-'));
  root = path.join(dir, 'library');
  await mkdir(root);
  await writeFile(path.join(root, 'clip.mp4'), 'not played here, only created');
  await writeFile(path.join(dir, 'secret.txt'), 'outside the roots');
  await symlink(path.join(dir, 'secret.txt'), path.join(root, 'looks-inside.mp4'));
  rooted = await startTestEngine({ fileRoots: [root] });
  listed = await startTestEngine({
    playerAllowedHosts: ['127.0.0.1'],
    recorderAllowedHosts: ['127.0.0.1'],
  });
});

after(async () => {
  await Promise.all([rooted?.close(), listed?.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: number; message: string };
  }
  throw new Error('it was accepted');
}

async function withPipeline(
  engine: RunningEngine,
  work: (pipeline: kurento.MediaPipeline) => Promise<void>,
): Promise<void> {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    await work(pipeline);
  } finally {
    await pipeline.release();
    client.close();
  }
}

test('with KMS_FILE_ROOTS players and recorders stay under the roots, symbolic links resolved', async () => {
  await withPipeline(rooted, async (pipeline) => {
    await pipeline.create('PlayerEndpoint', { uri: `file://${path.join(root, 'clip.mp4')}` });
    await pipeline.create('RecorderEndpoint', { uri: `file://${path.join(root, 'new.webm')}` });
    for (const uri of [
      'file:///etc/shadow',
      `file://${path.join(dir, 'secret.txt')}`,
      `file://${path.join(root, 'looks-inside.mp4')}`,
    ]) {
      const error = await refusal(pipeline.create('PlayerEndpoint', { uri }));
      assert.equal(error.code, 40001, uri);
      assert.match(error.message, /may read files only under .* \(KMS_FILE_ROOTS\)/, uri);
    }
    const recorder = await refusal(
      pipeline.create('RecorderEndpoint', { uri: `file://${path.join(dir, 'outside.webm')}` }),
    );
    assert.equal(recorder.code, 40001);
    assert.match(recorder.message, /may write files only under/);
  });
});

test('players never fetch loopback, link-local or metadata hosts, numeric disguises included, unless listed', async () => {
  await withPipeline(rooted, async (pipeline) => {
    for (const uri of [
      'http://127.0.0.1:8080/metrics',
      'http://localhost/clip.mp4',
      'http://169.254.169.254/latest/meta-data/',
      'http://2852039166/latest/meta-data/',
      'http://0xA9FEA9FE/latest/',
      'http://[::1]/clip.mp4',
      'http://[::ffff:127.0.0.1]/clip.mp4',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://0.0.0.0:8888/',
    ]) {
      const error = await refusal(pipeline.create('PlayerEndpoint', { uri }));
      assert.equal(error.code, 40001, uri);
      assert.match(error.message, /KMS_PLAYER_ALLOWED_HOSTS/, uri);
    }
    // Anything else is created (and fetched only when it plays).
    await pipeline.create('PlayerEndpoint', { uri: 'https://videos.school.example/clip.mp4' });
  });
  await withPipeline(listed, async (pipeline) => {
    await pipeline.create('PlayerEndpoint', { uri: 'http://127.0.0.1:9/clip.mp4' });
    const error = await refusal(
      pipeline.create('PlayerEndpoint', { uri: 'http://169.254.169.254/latest/' }),
    );
    assert.equal(error.code, 40001);
  });
});

test('recorders upload over http(s) but never to loopback, link-local or metadata hosts unless listed', async () => {
  await withPipeline(rooted, async (pipeline) => {
    for (const uri of [
      'http://127.0.0.1:8080/upload',
      'https://localhost/upload.webm',
      'http://169.254.169.254/latest/meta-data/',
      'http://2852039166/latest/',
      'http://[::1]/rec.webm',
      'http://metadata.google.internal/computeMetadata/v1/',
    ]) {
      const error = await refusal(pipeline.create('RecorderEndpoint', { uri }));
      assert.equal(error.code, 40001, uri);
      assert.match(error.message, /KMS_RECORDER_ALLOWED_HOSTS to record to it/, uri);
    }
    // Kurento's forms, credentials included, are created (and uploaded to only at record()).
    await pipeline.create('RecorderEndpoint', { uri: 'https://storage.school.example/a.webm' });
    await pipeline.create('RecorderEndpoint', {
      uri: 'http://user:pa%40ss@storage.school.example:8080/a.mp4',
      mediaProfile: 'MP4',
    });
  });
  await withPipeline(listed, async (pipeline) => {
    await pipeline.create('RecorderEndpoint', { uri: 'http://127.0.0.1:9/rec.webm' });
    const error = await refusal(
      pipeline.create('RecorderEndpoint', { uri: 'http://169.254.169.254/latest/' }),
    );
    assert.equal(error.code, 40001);
  });
});

test('a host name that resolves to an internal address is refused, for players and recorders', async () => {
  // The engine's own /etc/hosts, in a mount namespace this test creates: real resolution
  // (getaddrinfo through nsswitch) of names nobody else on the machine sees.
  const hosts = path.join(dir, 'hosts');
  await writeFile(
    hosts,
    [
      '127.0.0.1 localhost',
      '169.254.169.254 metadata-alias.school.test',
      '127.0.0.1 loopback-alias.school.test',
      '10.20.30.40 media.school.test',
    ].join('\n') + '\n',
  );
  const engine = await startEngineProcess({}, (command) => [
    'unshare',
    '--mount',
    'sh',
    '-c',
    'mount --bind "$0" /etc/hosts && exec "$@"',
    hosts,
    ...command,
  ]);
  const client = await connectKurento(engine.url);
  try {
    const pipeline = await client.create('MediaPipeline');
    for (const [type, setting] of [
      ['PlayerEndpoint', 'KMS_PLAYER_ALLOWED_HOSTS'],
      ['RecorderEndpoint', 'KMS_RECORDER_ALLOWED_HOSTS'],
    ] as const) {
      for (const [name, address] of [
        ['metadata-alias.school.test', '169.254.169.254'],
        ['loopback-alias.school.test', '127.0.0.1'],
      ] as const) {
        const uri = `http://${name}/clip.webm`;
        const error = await refusal(pipeline.create(type, { uri }));
        assert.equal(error.code, 40001, `${type} ${uri}`);
        assert.match(error.message, new RegExp(`resolves to ${address.replace(/\./g, '\\.')}`));
        assert.match(error.message, new RegExp(setting));
      }
      // A name that resolves to an ordinary address, and one that does not resolve, are created.
      await pipeline.create(type, { uri: 'http://media.school.test/clip.webm' });
      await pipeline.create(type, { uri: 'http://nowhere.school.test/clip.webm' });
    }
    await pipeline.release();
  } finally {
    client.close();
    await engine.stop();
  }
});
