/**
 * HttpPostEndpoint's constructor and HTTP server as a client sees them, without media: the
 * parameters are checked as Kurento's kmd says, getUrl names the engine's own server, and a
 * port that cannot be bound is Kurento's 40300 HTTP_END_POINT_REGISTRATION_ERROR naming the
 * setting. Media through it: test/media/http-post-endpoint.test.ts.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import type kurento from 'kurento-client';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { announceable } from '../../kms/src/http/HttpEndpointServer.js';
import { connectKurento } from '../helpers/kurento.js';
import { startTestEngine } from './helpers.js';

let engine: RunningEngine;
let blocked: RunningEngine;
let squatter: Server;
let squatted = 0;

before(async () => {
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const address = squatter.address();
  squatted = typeof address === 'object' && address !== null ? address.port : 0;
  engine = await startTestEngine({ httpEndpointPort: 0 });
  blocked = await startTestEngine({ httpEndpointPort: squatted });
});

after(async () => {
  await Promise.all([engine?.close(), blocked?.close()]);
  squatter?.close();
});

function create(
  pipeline: kurento.MediaPipeline,
  params: Record<string, unknown>,
): Promise<unknown> {
  const untyped = pipeline as unknown as {
    create(type: string, params: Record<string, unknown>): Promise<unknown>;
  };
  return untyped.create('HttpPostEndpoint', params);
}

async function withPipeline(
  target: RunningEngine,
  work: (pipeline: kurento.MediaPipeline) => Promise<void>,
): Promise<void> {
  const client = await connectKurento(target.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    await work(pipeline);
  } finally {
    await pipeline.release();
    client.close();
  }
}

test("HttpPostEndpoint takes Kurento's constructor params and getUrl names a fresh path on the engine's server", async () => {
  await withPipeline(engine, async (pipeline) => {
    const one = (await create(pipeline, {
      disconnectionTimeout: 5,
      useEncodedMedia: false,
    })) as { getUrl(): Promise<string> };
    const two = (await create(pipeline, {})) as { getUrl(): Promise<string> };
    const [a, b] = [await one.getUrl(), await two.getUrl()];
    assert.match(a, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
    assert.equal(new URL(a).port, new URL(b).port, 'one server for all endpoints');
    assert.notEqual(a, b);
    // kurento-client itself refuses a non-integer; the engine refuses a negative one.
    await assert.rejects(
      create(pipeline, { disconnectionTimeout: -1 }),
      (error: { code: number; message: string }) => {
        assert.equal(error.code, 40001);
        assert.match(error.message, /disconnectionTimeout/);
        return true;
      },
    );
  });
});

test('a port the HTTP server cannot bind is 40300 naming KMS_HTTP_ENDPOINT_PORT, and nothing is left behind', async () => {
  await withPipeline(blocked, async (pipeline) => {
    await assert.rejects(create(pipeline, {}), (error: { code: number; message: string }) => {
      assert.equal(error.code, 40300);
      assert.match(
        error.message,
        new RegExp(`127\\.0\\.0\\.1:${squatted}.*KMS_HTTP_ENDPOINT_PORT`),
      );
      return true;
    });
    assert.deepEqual(await pipeline.getChildren(), []);
  });
});

test('a body over KMS_HTTP_ENDPOINT_MAX_BYTES is refused with 413, announced or not', async () => {
  const small = await startTestEngine({ httpEndpointPort: 0, httpEndpointMaxBytes: 1000 });
  try {
    await withPipeline(small, async (pipeline) => {
      for (const chunked of [false, true]) {
        const endpoint = (await create(pipeline, {})) as { getUrl(): Promise<string> };
        const url = await endpoint.getUrl();
        const body = Buffer.alloc(64 * 1024, 1);
        const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
          const request = httpRequest(url, { method: 'POST' }, (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          });
          // The engine may close the connection while the rest of the body is still going out.
          request.on('error', (error) => (request.writableEnded ? undefined : reject(error)));
          if (!chunked) request.setHeader('Content-Length', body.length);
          request.end(body);
        });
        assert.equal(reply.status, 413, `chunked=${String(chunked)}`);
        assert.match(reply.text, /At most 1000 bytes \(KMS_HTTP_ENDPOINT_MAX_BYTES\)/);
      }
    });
  } finally {
    await small.close();
  }
});

test('getUrl names KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS when set, and never a wildcard address', async () => {
  const announced = await startTestEngine({
    httpEndpointPort: 0,
    httpEndpointAnnouncedAddress: 'media1.school.example',
  });
  try {
    await withPipeline(announced, async (pipeline) => {
      const endpoint = (await create(pipeline, {})) as { getUrl(): Promise<string> };
      assert.match(
        await endpoint.getUrl(),
        /^http:\/\/media1\.school\.example:\d+\/[0-9a-f-]{36}$/,
      );
    });
  } finally {
    await announced.close();
  }
  // Tests listen on loopback only, so the wildcard rule is checked without binding 0.0.0.0.
  for (const wildcard of ['0.0.0.0', '::']) {
    const host = announceable(wildcard);
    assert.ok(host !== '0.0.0.0' && host !== '::', `${wildcard} is announced as ${host}`);
    assert.match(host, /^\d+\.\d+\.\d+\.\d+$/);
  }
  assert.equal(announceable('127.0.0.1'), '127.0.0.1');
});
