/**
 * RecorderEndpoint to http:// URIs, as Kurento does it: the recording is POSTed to the URI with
 * `Transfer-Encoding: chunked` while it is being made (curlhttpsink), and ends with the stop. A
 * real HTTP server on 127.0.0.1 (allowed by KMS_RECORDER_ALLOWED_HOSTS) receives it; the bytes
 * must decode to the clip's picture. A failed upload is an Error event saying so.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { fileQuadrants, lastVideoTime } from '../helpers/fileMedia.js';
import { connectKurento } from '../helpers/kurento.js';
import { makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';

let engine: EngineProcess;
let dir: string;
let clip: string;
let longClip: string;
const QUADRANTS: Quadrants = ['cyan', 'red', 'blue', 'yellow'];

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess({ KMS_RECORDER_ALLOWED_HOSTS: '127.0.0.1' });
  clip = await makeQuadrantClip(path.join(dir, 'clip.webm'), QUADRANTS, {
    seconds: 4,
    container: 'webm',
  });
  longClip = await makeQuadrantClip(path.join(dir, 'long.webm'), QUADRANTS, {
    seconds: 30,
    container: 'webm',
  });
});

after(async () => {
  await engine?.stop();
});

/** One request as the upload server saw it. */
interface Upload {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** The body arrived whole (the client ended it), not cut off. */
  complete: boolean;
}

/** An HTTP server on 127.0.0.1 that hands each request to `handle`. */
async function listen(
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Receives uploads in full and answers 201, as a storage service would. */
async function uploadServer(): Promise<{ server: Server; port: number; uploads: Upload[] }> {
  const uploads: Upload[] = [];
  const { server, port } = await listen((request, response) => {
    const chunks: Buffer[] = [];
    const upload: Upload = {
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
      body: Buffer.alloc(0),
      complete: false,
    };
    uploads.push(upload);
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      upload.body = Buffer.concat(chunks);
      upload.complete = true;
      response.writeHead(201).end();
    });
  });
  return { server, port, uploads };
}

function nextError(
  element: kurento.MediaElement,
  seconds: number,
): Promise<{ type: string; description: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no Error event within ${seconds} s`)),
      seconds * 1000,
    );
    element.on('Error', (event: { type: string; description: string }) => {
      clearTimeout(timer);
      resolve(event);
    });
  });
}

for (const profile of ['WEBM', 'MP4'] as const) {
  test(`a ${profile} recording to an http:// URI is POSTed chunked and decodes to the clip's picture`, async () => {
    const { server, port, uploads } = await uploadServer();
    const client = await connectKurento(engine.url);
    const pipeline = await client.create('MediaPipeline');
    try {
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
      const recorder = await pipeline.create('RecorderEndpoint', {
        uri: `http://127.0.0.1:${port}/recordings/assembly.${profile.toLowerCase()}?take=1`,
        mediaProfile: profile,
      });
      const events: string[] = [];
      for (const name of ['Recording', 'Paused', 'Stopped', 'Error']) {
        recorder.on(name, () => events.push(name));
      }
      await player.connect(recorder);
      const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
      await recorder.record();
      await player.play();
      await ended;
      await recorder.stopAndWait();
      // stopAndWait returns once the server has answered the upload.
      assert.equal(uploads.length, 1, 'one request per recording');
      const [upload] = uploads;
      assert.ok(upload !== undefined);
      assert.ok(upload.complete, 'the body was ended, not cut off');
      assert.equal(upload.method, 'POST');
      assert.equal(upload.url, `/recordings/assembly.${profile.toLowerCase()}?take=1`);
      assert.equal(upload.headers['transfer-encoding'], 'chunked');
      assert.equal(upload.headers['content-length'], undefined);
      assert.equal(
        upload.headers['content-type'],
        profile === 'MP4' ? 'video/quicktime' : 'video/webm',
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(events, ['Recording', 'Stopped']);
      const file = path.join(dir, `uploaded.${profile.toLowerCase()}`);
      await writeFile(file, upload.body);
      // The whole clip is in the upload (the frame rate is what the machine's load allowed).
      const seconds = await lastVideoTime(file);
      assert.ok(seconds > 3.2, `the upload of a 4 s clip holds ${seconds} s of video`);
      assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
    } finally {
      await pipeline.release();
      client.close();
      server.close();
    }
  });
}

/**
 * Records the long clip to `uri` and resolves with the recorder's first Error event, handing it
 * to `check` before the pipeline is released.
 */
async function failingUpload(
  uri: string,
  check: (
    event: { type: string; description: string },
    recorder: kurento.RecorderEndpoint,
    player: kurento.PlayerEndpoint,
  ) => Promise<void> | void,
): Promise<void> {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${longClip}` });
    const recorder = await pipeline.create('RecorderEndpoint', { uri });
    await player.connect(recorder);
    const error = nextError(recorder, 30);
    await recorder.record();
    await player.play();
    await check(await error, recorder, player);
  } finally {
    await pipeline.release();
    client.close();
  }
}

test('an upload the server refuses with 500 raises an Error event saying so', async () => {
  const { server, port } = await listen((request, response) => {
    request.resume();
    response.writeHead(500).end('storage is full');
  });
  try {
    await failingUpload(
      `http://127.0.0.1:${port}/refused.webm`,
      async (event, recorder, player) => {
        assert.equal(event.type, 'RESOURCE_ERROR_WRITE');
        assert.match(event.description, /^Could not upload the recording: .*500/);
        // The recorder can still be stopped and the pipeline keeps answering.
        await recorder.stopAndWait();
        assert.equal(typeof (await player.getPosition()), 'number');
      },
    );
  } finally {
    server.close();
  }
});

test('an upload whose server goes away mid-recording raises an Error event', async () => {
  let received = 0;
  const { server, port } = await listen((request) => {
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Gone once the first part of the recording arrived.
      request.socket.destroy();
    });
  });
  try {
    await failingUpload(`http://127.0.0.1:${port}/gone.webm`, async (event, recorder) => {
      assert.ok(received > 0, 'the upload had started');
      assert.equal(event.type, 'RESOURCE_ERROR_WRITE');
      assert.match(event.description, /^Could not upload the recording: /);
      await recorder.stopAndWait();
    });
  } finally {
    server.close();
  }
});

test('an upload to a port nobody listens on raises an Error event', async () => {
  const { server, port } = await listen(() => undefined);
  await new Promise((resolve) => server.close(resolve));
  await failingUpload(`http://127.0.0.1:${port}/nobody.webm`, (event) => {
    assert.match(event.description, /^Could not upload the recording: .*connect/i);
  });
});

/** A self-signed certificate for 127.0.0.1, made with openssl for this run. */
async function selfSigned(): Promise<{ key: string; cert: string }> {
  const key = path.join(dir, 'self-signed.key');
  const cert = path.join(dir, 'self-signed.crt');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '1',
  ]);
  return { key, cert };
}

/** An https server on 127.0.0.1 that takes uploads whole and answers 201. */
async function httpsUploadServer(pair: {
  key: string;
  cert: string;
}): Promise<{ server: Server; port: number; uploads: Upload[] }> {
  const uploads: Upload[] = [];
  const server = createHttpsServer(
    { key: await readFile(pair.key), cert: await readFile(pair.cert) },
    (request, response) => {
      const upload: Upload = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.alloc(0),
        complete: false,
      };
      uploads.push(upload);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        upload.body = Buffer.concat(chunks);
        upload.complete = true;
        response.writeHead(201).end();
      });
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, uploads };
}

test('an https:// upload checks the server certificate: a self-signed one is an Error naming it, nothing is sent', async () => {
  const { server, port, uploads } = await httpsUploadServer(await selfSigned());
  try {
    await failingUpload(`https://127.0.0.1:${port}/untrusted.webm`, (event) => {
      assert.equal(event.type, 'RESOURCE_ERROR_WRITE');
      assert.match(
        event.description,
        /^Could not upload the recording: 127\.0\.0\.1:\d+: self[- ]signed certificate/,
      );
      assert.equal(
        uploads.length,
        0,
        'no request reached a server whose certificate is not trusted',
      );
    });
  } finally {
    server.close();
  }
});

test('an https:// upload to a trusted server arrives chunked and decodes to the picture', async () => {
  const pair = await selfSigned();
  // The engine trusts this run's certificate as it would a real CA's.
  const trusting = await startEngineProcess({
    KMS_RECORDER_ALLOWED_HOSTS: '127.0.0.1',
    NODE_EXTRA_CA_CERTS: pair.cert,
  });
  const { server, port, uploads } = await httpsUploadServer(pair);
  const client = await connectKurento(trusting.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const recorder = await pipeline.create('RecorderEndpoint', {
      uri: `https://127.0.0.1:${port}/secure.webm`,
      mediaProfile: 'WEBM_VIDEO_ONLY',
    });
    const errors: string[] = [];
    recorder.on('Error', (event: { description: string }) => errors.push(event.description));
    await player.connect(recorder);
    const ended = new Promise<void>((resolve) => player.on('EndOfStream', () => resolve()));
    await recorder.record();
    await player.play();
    await ended;
    await recorder.stopAndWait();
    assert.deepEqual(errors, []);
    assert.equal(uploads.length, 1);
    const [upload] = uploads;
    assert.ok(upload !== undefined && upload.complete);
    assert.equal(upload.method, 'POST');
    assert.equal(upload.url, '/secure.webm');
    assert.equal(upload.headers['transfer-encoding'], 'chunked');
    assert.equal(upload.headers['content-type'], 'video/webm');
    const file = path.join(dir, 'uploaded-https.webm');
    await writeFile(file, upload.body);
    assert.deepEqual(await fileQuadrants(file, 2), [...QUADRANTS]);
  } finally {
    await pipeline.release();
    client.close();
    server.close();
    await trusting.stop();
  }
});
