import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { fileQuadrants } from '../helpers/fileMedia.js';
import { connectKurento } from '../helpers/kurento.js';
import { makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';

let engine: EngineProcess;
let dir: string;
let clip: string;
const QUADRANTS: Quadrants = ['yellow', 'blue', 'magenta', 'green'];

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  clip = await makeQuadrantClip(path.join(dir, 'clip.webm'), QUADRANTS, {
    seconds: 4,
    container: 'webm',
  });
});

after(async () => {
  await engine?.stop();
});

/** @types/kurento-client has no PassThrough: create it by name as any Kurento client can. */
async function createPassThrough(
  pipeline: kurento.MediaPipeline,
  type: string,
): Promise<kurento.MediaElement> {
  const untyped = pipeline as unknown as {
    create(type: string): Promise<kurento.MediaElement>;
  };
  return untyped.create(type);
}

function createRecorder(
  pipeline: kurento.MediaPipeline,
  file: string,
): Promise<kurento.RecorderEndpoint> {
  return pipeline.create('RecorderEndpoint', {
    uri: `file://${file}`,
    mediaProfile: 'WEBM_VIDEO_ONLY',
  });
}

test('a PassThrough between a player and two recorders passes the picture on unchanged', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    // Kurento's own tooling names it by its module-qualified name too.
    const passThrough = await createPassThrough(pipeline, 'kurento.PassThrough');
    const files = [path.join(dir, 'through-1.webm'), path.join(dir, 'through-2.webm')];
    const recorders = await Promise.all(files.map((file) => createRecorder(pipeline, file)));
    const flowingIn = new Promise<void>((resolve) =>
      passThrough.on('MediaFlowInStateChanged', (event: { state: string; mediaType: string }) => {
        if (event.state === 'FLOWING' && event.mediaType === 'VIDEO') resolve();
      }),
    );
    await player.connect(passThrough);
    for (const recorder of recorders) await passThrough.connect(recorder, 'VIDEO');
    const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
    for (const recorder of recorders) await recorder.record();
    await player.play();
    await flowingIn;
    await ended;
    for (const recorder of recorders) await recorder.stopAndWait();
    for (const file of files) assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a PassThrough with nothing connected to it passes nothing', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const passThrough = await createPassThrough(pipeline, 'PassThrough');
    const file = path.join(dir, 'unconnected.webm');
    const recorder = await createRecorder(pipeline, file);
    // The recorder hangs off the PassThrough, whose input is left empty.
    await passThrough.connect(recorder, 'VIDEO');
    const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
    await recorder.record();
    await player.play();
    await ended;
    await recorder.stopAndWait();
    await assert.rejects(fileQuadrants(file, 1));
  } finally {
    await pipeline.release();
    client.close();
  }
});
