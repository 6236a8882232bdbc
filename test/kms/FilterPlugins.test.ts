import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { mediaDir } from '../helpers/media.js';
import { RawClient, type Json } from './helpers.js';

const run = promisify(execFile);
const SYSTEM_PLUGINS = '/usr/lib/x86_64-linux-gnu/gstreamer-1.0';
/** The plugins of the filters module: OpenCV (facedetect) and zbar. */
const FILTER_PLUGINS = new Set(['libgstopencv.so', 'libgstzbar.so']);

let engine: EngineProcess;
let dir: string;

/**
 * The engine runs on a GStreamer installation without the OpenCV and zbar plugins: a plugin
 * folder of links to every system plugin but those two, with its own registry file.
 */
before(async () => {
  dir = await mediaDir();
  const plugins = path.join(dir, 'plugins');
  await mkdir(plugins);
  for (const name of await readdir(SYSTEM_PLUGINS)) {
    if (!name.endsWith('.so') || FILTER_PLUGINS.has(name)) continue;
    await symlink(path.join(SYSTEM_PLUGINS, name), path.join(plugins, name));
  }
  const env = {
    GST_PLUGIN_SYSTEM_PATH_1_0: plugins,
    GST_PLUGIN_PATH_1_0: '',
    GST_REGISTRY_1_0: path.join(dir, 'registry.bin'),
  };
  // Scanning ~260 plugins into a fresh registry takes seconds on a loaded machine; done here
  // once so the worker's start is not what pays for it.
  await run('gst-inspect-1.0', ['--version'], { env: { ...process.env, ...env } });
  const { stdout } = await run('gst-inspect-1.0', ['facedetect'], {
    env: { ...process.env, ...env },
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  assert.doesNotMatch(stdout, /Factory Details/, 'facedetect is really gone');
  engine = await startEngineProcess(env);
});

after(async () => {
  await engine?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('without the OpenCV and zbar plugins, creating their filters fails clearly and the pipeline keeps working', async () => {
  const raw = await RawClient.open(engine.url);
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const create = (type: string, params: Json = {}) =>
    raw.call('create', { type, constructorParams: { mediaPipeline: pipeline, ...params } });
  const face = (await create('FaceOverlayFilter')).error as { code: number; message: string };
  assert.equal(face.code, 40107);
  assert.match(face.message, /FaceOverlayFilter plugin not available: facedetect/);
  assert.match(face.message, /gstreamer1\.0-opencv/);
  const zbar = (await create('ZBarFilter')).error as { message: string };
  assert.match(zbar.message, /ZBarFilter plugin not available: zbar/);
  // The same worker still creates everything else.
  const filter = await create('GStreamerFilter', { command: 'videobalance saturation=0' });
  assert.equal(filter.error, undefined, JSON.stringify(filter.error));
  const overlay = await create('ImageOverlayFilter');
  assert.equal(overlay.error, undefined, JSON.stringify(overlay.error));
  await raw.ok('release', { object: pipeline });
  await raw.close();
});
