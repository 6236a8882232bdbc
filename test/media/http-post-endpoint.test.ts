/**
 * HttpPostEndpoint through kurento-client: getUrl names a URL on the engine's own HTTP server
 * (127.0.0.1, a free port here), a file POSTed there plays into the pipeline, and the picture
 * comes out the other side (recorded, then decoded by ffmpeg and checked by pixels).
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import { startEngineProcess, workerPids, type EngineProcess } from '../helpers/engineProcess.js';
import { fileQuadrants, lastVideoTime } from '../helpers/fileMedia.js';
import { connectKurento } from '../helpers/kurento.js';
import { makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';

let engine: EngineProcess;
let dir: string;
let webm: string;
let mp4: string;
let long: string;
const QUADRANTS: Quadrants = ['magenta', 'green', 'yellow', 'blue'];

before(async () => {
  dir = await mediaDir();
  // No warm worker (KMS_WARM_WORKERS): the worker-death test finds its pipeline's worker as
  // the engine's one new child.
  engine = await startEngineProcess({ KMS_HTTP_ENDPOINT_PORT: '0', KMS_WARM_WORKERS: '0' });
  webm = await makeQuadrantClip(path.join(dir, 'posted.webm'), QUADRANTS, {
    seconds: 4,
    container: 'webm',
  });
  mp4 = await makeQuadrantClip(path.join(dir, 'posted.mp4'), QUADRANTS, {
    seconds: 4,
    container: 'mp4',
  });
  // Several times the 64 KB a FIFO holds, so its upload takes as long as it plays.
  long = await makeQuadrantClip(path.join(dir, 'long.webm'), QUADRANTS, {
    seconds: 30,
    container: 'webm',
  });
});

after(async () => {
  await engine?.stop();
});

interface Reply {
  status: number;
  body: string;
}

/** Sends `body` (a file, or bytes) to `url`; chunked unless `withLength`. */
function send(
  url: string,
  body: { file: string } | { bytes: Buffer },
  options: { method?: string; withLength?: boolean; contentType?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      'Content-Type': options.contentType ?? 'video/webm',
    };
    const request = httpRequest(url, { method: options.method ?? 'POST', headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    if ('bytes' in body) {
      if (options.withLength === true) request.setHeader('Content-Length', body.bytes.length);
      request.end(body.bytes);
      return;
    }
    void stat(body.file).then((info) => {
      if (options.withLength === true) request.setHeader('Content-Length', info.size);
      createReadStream(body.file).pipe(request);
    }, reject);
  });
}

/** @types/kurento-client has no HttpPostEndpoint: create it by name, as any client can. */
interface HttpPostEndpoint extends kurento.MediaElement {
  getUrl(): Promise<string>;
}

async function createPostEndpoint(
  pipeline: kurento.MediaPipeline,
  params: Record<string, unknown> = {},
): Promise<HttpPostEndpoint> {
  const untyped = pipeline as unknown as {
    create(type: string, params: Record<string, unknown>): Promise<HttpPostEndpoint>;
  };
  return untyped.create('HttpPostEndpoint', params);
}

function nextEvent(element: kurento.MediaElement, name: string, seconds: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${name} within ${seconds} s`)),
      seconds * 1000,
    );
    element.on(name, (event: unknown) => {
      clearTimeout(timer);
      resolve(event);
    });
  });
}

for (const [container, withLength] of [
  ['webm', true],
  ['mp4', false],
] as const) {
  test(`a ${container} POSTed ${withLength ? 'with Content-Length' : 'chunked'} to getUrl() plays into the pipeline, then EndOfStream`, async () => {
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    try {
      const post = await createPostEndpoint(pipeline);
      const url = await post.getUrl();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
      const file = path.join(dir, `through-post-${container}.webm`);
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `file://${file}`,
        mediaProfile: 'WEBM_VIDEO_ONLY',
      });
      const events: string[] = [];
      for (const name of ['MediaSessionStarted', 'MediaSessionTerminated', 'EndOfStream']) {
        post.on(name, () => events.push(name));
      }
      const ended = nextEvent(post, 'EndOfStream', 60);
      await post.connect(recorder, 'VIDEO');
      await recorder.record();
      const reply = await send(
        url,
        { file: container === 'webm' ? webm : mp4 },
        {
          withLength,
          contentType: `video/${container}`,
        },
      );
      assert.equal(reply.status, 200, reply.body);
      await ended;
      await recorder.stopAndWait();
      assert.deepEqual(events, ['MediaSessionStarted', 'MediaSessionTerminated', 'EndOfStream']);
      assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
      // One upload per endpoint.
      const again = await send(url, { bytes: Buffer.from('more') }, { withLength: true });
      assert.equal(again.status, 410);
    } finally {
      await pipeline.release();
      client.close();
    }
  });
}

test('the HTTP server refuses unknown and released URLs, other methods, a second concurrent POST and a body that is not media, clearly', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const post = await createPostEndpoint(pipeline, { disconnectionTimeout: 1 });
    const url = await post.getUrl();
    const base = new URL(url);
    const unknown = await send(`${base.origin}/00000000-0000-0000-0000-000000000000`, {
      bytes: Buffer.from('x'),
    });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /No HttpPostEndpoint at this URL/);
    const get = await send(url, { bytes: Buffer.alloc(0) }, { method: 'GET' });
    assert.equal(get.status, 405);

    // A POST that is still sending holds the endpoint: a second one is refused.
    const slow = httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'video/webm' } });
    const slowReply = new Promise<number>((resolve) => {
      slow.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      slow.on('error', () => resolve(0));
    });
    const started = nextEvent(post, 'MediaSessionStarted', 30);
    slow.write(Buffer.from('not a media file, just text that no demuxer knows. '.repeat(200)));
    await started;
    const second = await send(url, { bytes: Buffer.from('x') }, { withLength: true });
    assert.equal(second.status, 409);
    assert.match(second.body, /already in progress/);
    // The worker cannot make media of the first body: an Error event, and the upload is refused.
    const error = (await nextEvent(post, 'Error', 60)) as { type: string; description: string };
    assert.equal(error.type, 'STREAM_ERROR_DECODE');
    assert.match(error.description, /the POSTed media/);
    assert.equal(await slowReply, 415);
    slow.destroy();

    const other = await createPostEndpoint(pipeline);
    const otherUrl = await other.getUrl();
    await other.release();
    const released = await send(otherUrl, { bytes: Buffer.from('x') }, { withLength: true });
    assert.equal(released.status, 404);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a browser form upload (multipart/form-data) plays the form file, as in Kurento', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const post = await createPostEndpoint(pipeline);
    const file = path.join(dir, 'through-form.webm');
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${file}`,
      mediaProfile: 'WEBM_VIDEO_ONLY',
    });
    await post.connect(recorder, 'VIDEO');
    await recorder.record();
    const ended = nextEvent(post, 'EndOfStream', 60);
    const boundary = '----montageFormBoundary7MA4YWxkTrZu0gW';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nAssembly\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.webm"\r\n` +
          'Content-Type: video/webm\r\n\r\n',
      ),
      await readFile(webm),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const reply = await send(
      await post.getUrl(),
      { bytes: body },
      {
        withLength: true,
        contentType: `multipart/form-data; boundary=${boundary}`,
      },
    );
    assert.equal(reply.status, 200, reply.body);
    await ended;
    await recorder.stopAndWait();
    assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
  } finally {
    await pipeline.release();
    client.close();
  }
});

/** POSTs the first `bytes` of a body announced as `total` long, then drops the connection. */
async function postPartly(url: string, part: Buffer, total: number): Promise<void> {
  const request = httpRequest(url, {
    method: 'POST',
    headers: { 'Content-Type': 'video/webm', 'Content-Length': total },
  });
  request.on('error', () => undefined);
  await new Promise<void>((resolve) => request.write(part, () => resolve()));
  request.destroy();
}

test('a POST cut off mid-body is continued by a second POST within disconnectionTimeout', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const post = await createPostEndpoint(pipeline, { disconnectionTimeout: 10 });
    const url = await post.getUrl();
    const file = path.join(dir, 'through-resumed.webm');
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `file://${file}`,
      mediaProfile: 'WEBM_VIDEO_ONLY',
    });
    await post.connect(recorder, 'VIDEO');
    await recorder.record();
    const clip = await readFile(webm);
    const half = Math.floor(clip.length / 2);
    const events: string[] = [];
    for (const name of ['MediaSessionStarted', 'MediaSessionTerminated', 'EndOfStream']) {
      post.on(name, () => events.push(name));
    }
    const ended = nextEvent(post, 'EndOfStream', 60);
    await postPartly(url, clip.subarray(0, half), clip.length);
    // The engine learns that the first connection is gone only once it has played what that
    // connection sent (about 2 s); until then a POST is 409 with Retry-After, and a client
    // resuming an upload tries again, as here.
    let reply = await send(url, { bytes: clip.subarray(half) }, { withLength: true });
    const deadline = Date.now() + 30_000;
    let conflicts = 0;
    while (reply.status === 409 && Date.now() < deadline) {
      conflicts += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
      reply = await send(url, { bytes: clip.subarray(half) }, { withLength: true });
    }
    assert.equal(reply.status, 200, `${reply.body} after ${conflicts} conflicts`);
    await ended;
    await recorder.stopAndWait();
    assert.deepEqual(events, ['MediaSessionStarted', 'MediaSessionTerminated', 'EndOfStream']);
    // Both halves played: about 4 s of video, not the 2 s of the first half.
    const seconds = await lastVideoTime(file);
    assert.ok(seconds > 3.2, `${seconds} s recorded of a 4 s clip sent in two POSTs`);
    assert.deepEqual(await fileQuadrants(file, 3), [...QUADRANTS]);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a POST cut off and not continued ends the stream after disconnectionTimeout', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const post = await createPostEndpoint(pipeline, { disconnectionTimeout: 1 });
    const url = await post.getUrl();
    const clip = await readFile(webm);
    const terminated = nextEvent(post, 'MediaSessionTerminated', 60);
    const ended = nextEvent(post, 'EndOfStream', 60);
    await postPartly(url, clip.subarray(0, Math.floor(clip.length / 2)), clip.length);
    await terminated;
    await ended;
    const late = await send(url, { bytes: clip.subarray(0, 10) }, { withLength: true });
    assert.equal(late.status, 410);
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('an upload whose pipeline worker dies is answered 503 at once instead of hanging', async () => {
  const client = await connectKurento(engine.url);
  const before = new Set(await workerPids(engine.pid));
  const pipeline = await client.create('MediaPipeline');
  try {
    const post = await createPostEndpoint(pipeline);
    const url = await post.getUrl();
    const clip = await readFile(long);
    const request = httpRequest(url, {
      method: 'POST',
      headers: { 'Content-Type': 'video/webm', 'Content-Length': clip.length },
    });
    const reply = new Promise<number>((resolve) => {
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      // A connection closed without an answer also counts as not hanging.
      request.on('error', () => resolve(0));
    });
    const started = nextEvent(post, 'MediaSessionStarted', 30);
    request.write(clip.subarray(0, Math.floor(clip.length / 4)));
    await started;
    const worker = (await workerPids(engine.pid)).find((pid) => !before.has(pid));
    assert.ok(worker !== undefined, 'the pipeline has its own worker');
    process.kill(worker, 'SIGKILL');
    // The rest of the body would take many seconds to play; the answer must not wait for it.
    request.write(clip.subarray(Math.floor(clip.length / 4)));
    const status = await Promise.race([
      reply,
      new Promise<string>((resolve) => setTimeout(() => resolve('no answer in 20 s'), 20_000)),
    ]);
    assert.ok(status === 503 || status === 0, `answered ${status}`);
    request.destroy();
  } finally {
    await pipeline.release().catch(() => undefined);
    client.close();
  }
});
