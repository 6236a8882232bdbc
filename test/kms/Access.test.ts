/**
 * Who may open the engine's WebSocket (kms/src/rpc/AccessPolicy.ts): a browser Origin or a Host
 * name that is not listed is refused at the upgrade (a web page, or DNS rebinding, cannot drive
 * the engine), kurento-client on Node is not affected, and with KMS_AUTH_TOKEN only a client
 * that presents it connects, kurento-client included, which then builds real media.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { ConfigError, loadConfig } from '../../kms/src/config.js';
import { connectKurento } from '../helpers/kurento.js';
import { startTestEngine } from './helpers.js';

const TOKEN = 'a-shared-secret-of-the-school';

let open: RunningEngine;
let listed: RunningEngine;
let guarded: RunningEngine;

before(async () => {
  open = await startTestEngine();
  listed = await startTestEngine({
    allowedOrigins: ['https://panel.school.example', 'media1.internal'],
  });
  guarded = await startTestEngine({ authToken: TOKEN });
});

after(async () => {
  await Promise.all([open?.close(), listed?.close(), guarded?.close()]);
});

type Outcome = { opened: true } | { opened: false; status: number; reason: string };

/** Tries a WebSocket upgrade with these headers; says whether it opened or how it was refused. */
function attempt(url: string, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const { origin, ...rest } = headers;
    const socket = new WebSocket(url, {
      headers: rest,
      ...(origin === undefined ? {} : { origin }),
    });
    socket.once('open', () => {
      socket.close();
      resolve({ opened: true });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () =>
        resolve({
          opened: false,
          status: response.statusCode ?? 0,
          reason: body !== '' ? body : (response.statusMessage ?? ''),
        }),
      );
    });
    socket.once('error', reject);
  });
}

test('a browser Origin or a Host name that is not listed is refused; Node clients, loopback and IP hosts are not', async () => {
  const port = new URL(open.url).port;
  assert.deepEqual(await attempt(open.url), { opened: true }, 'kurento-client sends no Origin');
  assert.deepEqual(await attempt(open.url, { host: `localhost:${port}` }), { opened: true });
  const evil = await attempt(open.url, { origin: 'http://evil.example' });
  assert.equal(evil.opened, false);
  assert.equal(!evil.opened && evil.status, 403);
  assert.match(!evil.opened ? evil.reason : '', /Origin http:\/\/evil\.example is not allowed/);
  const rebound = await attempt(open.url, { host: `rebind.evil.example:${port}` });
  assert.equal(!rebound.opened && rebound.status, 403, 'a rebound name is refused');
  assert.match(!rebound.opened ? rebound.reason : '', /Host rebind\.evil\.example/);
  // Even a page on the engine's own host: browsers send an Origin, which is not listed.
  const local = await attempt(open.url, { origin: `http://127.0.0.1:${port}` });
  assert.equal(!local.opened && local.status, 403);
});

test('listed origins and host names are let in, others still refused', async () => {
  const port = new URL(listed.url).port;
  assert.deepEqual(await attempt(listed.url, { origin: 'https://panel.school.example' }), {
    opened: true,
  });
  assert.deepEqual(await attempt(listed.url, { host: `media1.internal:${port}` }), {
    opened: true,
  });
  assert.deepEqual(await attempt(listed.url, { host: `panel.school.example:${port}` }), {
    opened: true,
  });
  const other = await attempt(listed.url, { origin: 'https://panel.school.example.evil' });
  assert.equal(!other.opened && other.status, 403);
});

test('with KMS_AUTH_TOKEN only a client that presents it connects, and kurento-client with ?token= builds media', async () => {
  const none = await attempt(guarded.url);
  assert.equal(!none.opened && none.status, 401);
  assert.match(!none.opened ? none.reason : '', /KMS_AUTH_TOKEN/);
  const wrong = await attempt(`${guarded.url}?token=not-the-secret-at-all`);
  assert.equal(!wrong.opened && wrong.status, 401);
  assert.deepEqual(await attempt(`${guarded.url}?token=${TOKEN}`), { opened: true });
  assert.deepEqual(await attempt(guarded.url, { authorization: `Bearer ${TOKEN}` }), {
    opened: true,
  });

  const client = await connectKurento(`${guarded.url}?token=${TOKEN}`);
  try {
    const pipeline = await client.create('MediaPipeline');
    const endpoint = await pipeline.create('WebRtcEndpoint');
    const offer = await endpoint.generateOffer();
    assert.match(offer, /^v=0/);
    await pipeline.release();
  } finally {
    client.close();
  }
});

test('KMS_ALLOWED_ORIGINS and KMS_AUTH_TOKEN are validated with messages that name the key', () => {
  const config = loadConfig(
    { KMS_ALLOWED_ORIGINS: 'https://Panel.example:8443, media1.internal', KMS_AUTH_TOKEN: TOKEN },
    '/nonexistent/.env',
  );
  assert.deepEqual(config.allowedOrigins, ['https://panel.example:8443', 'media1.internal']);
  assert.equal(config.authToken, TOKEN);
  assert.throws(
    () => loadConfig({ KMS_ALLOWED_ORIGINS: 'https://a.example/path' }, '/nonexistent/.env'),
    (error: unknown) =>
      error instanceof ConfigError &&
      /KMS_ALLOWED_ORIGINS entry 'https:\/\/a\.example\/path'/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ KMS_AUTH_TOKEN: 'short' }, '/nonexistent/.env'),
    (error: unknown) =>
      error instanceof ConfigError && /KMS_AUTH_TOKEN must have at least 16/.test(error.message),
  );
});
