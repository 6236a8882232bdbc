import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { mediaDir } from '../helpers/media.js';
import { RawClient, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;
let dir: string;
let raw: RawClient;
let pipeline: string;

before(async () => {
  dir = await mediaDir();
  engine = await startTestEngine({ fileRoots: [dir] });
  raw = await RawClient.open(engine.url);
  pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
});

after(async () => {
  await raw?.close();
  await engine?.close();
});

function error(response: Json): { code: number; message: string } {
  assert.ok(response.error, `an error, not ${JSON.stringify(response.result)}`);
  return response.error as { code: number; message: string };
}

function createFilter(type: string, params: Json = {}): Promise<Json> {
  return raw.call('create', { type, constructorParams: { mediaPipeline: pipeline, ...params } });
}

test('getInfo lists the filters module with its four factories, and describe gives the hierarchy', async () => {
  const info = (await raw.ok('invoke', { object: 'manager_ServerManager', operation: 'getInfo' }))
    .value as { modules: Array<{ name: string; factories: string[] }> };
  const filters = info.modules.find((m) => m.name === 'filters');
  assert.deepEqual(filters?.factories, [
    'FaceOverlayFilter',
    'GStreamerFilter',
    'ImageOverlayFilter',
    'ZBarFilter',
  ]);
  const id = (
    await raw.ok('create', {
      type: 'GStreamerFilter',
      constructorParams: { mediaPipeline: pipeline, command: 'videobalance saturation=0' },
    })
  ).value as string;
  const described = await raw.ok('describe', { object: id });
  assert.equal(described.type, 'GStreamerFilter');
  assert.deepEqual(described.hierarchy, [
    'kurento.Filter',
    'kurento.MediaElement',
    'kurento.MediaObject',
  ]);
  const command = await raw.ok('invoke', { object: id, operation: 'getCommand' });
  assert.equal(command.value, 'videobalance saturation=0');
  await raw.ok('release', { object: id });
});

test('GStreamerFilter refuses bad commands with 40001 and Kurento-style messages', async () => {
  const cases: Array<[string, RegExp]> = [
    ['nosuchelement', /GStreamer filter cannot be created: .*nosuchelement/],
    ['videoflip ! videobalance', /just one element can be created/],
    ['videoflip method=', /GStreamer filter cannot be created/],
    ['filesrc location=/etc/passwd', /not a filter with one input and one output/],
    ['filesink location=/tmp/x', /not a filter/],
    ['udpsink host=1.2.3.4 port=5000', /not a filter/],
    ['tcpclientsrc host=1.2.3.4', /not a filter/],
    ['souphttpsrc location=http://169.254.169.254/', /not a filter/],
    ['shmsink socket-path=/tmp/s', /not a filter/],
    ['appsink', /not a filter/],
    [
      'gdkpixbufoverlay location=/etc/shadow',
      /property 'location' of 'gdkpixbufoverlay' is refused/,
    ],
    ['tee', /not a filter/],
  ];
  for (const [command, message] of cases) {
    const failure = error(await createFilter('GStreamerFilter', { command }));
    assert.equal(failure.code, 40001, command);
    assert.match(failure.message, message, command);
  }
  const noCommand = error(await createFilter('GStreamerFilter'));
  assert.match(noCommand.message, /'command' parameter is required/);
});

test('setElementProperty sets a property and refuses unknown or unsafe ones', async () => {
  const created = await createFilter('GStreamerFilter', { command: 'textoverlay text=hello' });
  assert.equal(created.error, undefined, JSON.stringify(created.error));
  const filter = (created.result as Json).value as string;
  const set = (propertyName: string, propertyValue: string) =>
    raw.call('invoke', {
      object: filter,
      operation: 'setElementProperty',
      operationParams: { propertyName, propertyValue },
    });
  assert.equal((await set('text', 'goodbye')).error, undefined);
  assert.match(
    error(await set('no-such-property', '1')).message,
    /has no property 'no-such-property'/,
  );
  const gdk = (await createFilter('GStreamerFilter', { command: 'gdkpixbufoverlay' }))
    .result as Json;
  const unsafe = await raw.call('invoke', {
    object: gdk.value,
    operation: 'setElementProperty',
    operationParams: { propertyName: 'location', propertyValue: '/etc/shadow' },
  });
  assert.equal(error(unsafe).code, 40001);
  assert.match(error(unsafe).message, /may not name files, devices or hosts/);
});

test('overlay image URIs go through the URI policy and must be pictures', async () => {
  const image = (await createFilter('ImageOverlayFilter')).result as Json;
  const addImage = (uri: string) =>
    raw.call('invoke', {
      object: image.value,
      operation: 'addImage',
      operationParams: {
        id: 'logo',
        uri,
        offsetXPercent: 0,
        offsetYPercent: 0,
        widthPercent: 0.5,
        heightPercent: 0.5,
        keepAspectRatio: false,
        center: false,
      },
    });
  assert.match(error(await addImage('rtsp://camera/logo.png')).message, /scheme 'rtsp:'/);
  assert.match(error(await addImage('file:///etc/passwd')).message, /KMS_FILE_ROOTS/);
  assert.match(error(await addImage('http://169.254.169.254/logo.png')).message, /link-local/);
  const text = path.join(dir, 'not-an-image.png');
  await writeFile(text, 'plain text, not a picture\n');
  const notImage = error(await addImage(`file://${text}`));
  assert.equal(notImage.code, 40001);
  assert.match(notImage.message, /cannot read image/);
  // removeImage of an id never added is not an error (Kurento ignores it too).
  const removed = await raw.call('invoke', {
    object: image.value,
    operation: 'removeImage',
    operationParams: { id: 'never-added' },
  });
  assert.equal(removed.error, undefined);
  const face = (await createFilter('FaceOverlayFilter')).result as Json;
  const setImage = await raw.call('invoke', {
    object: face.value,
    operation: 'setOverlayedImage',
    operationParams: {
      uri: 'file:///etc/shadow',
      offsetXPercent: 0,
      offsetYPercent: 0,
      widthPercent: 1,
      heightPercent: 1,
    },
  });
  assert.match(error(setImage).message, /KMS_FILE_ROOTS/);
});
