/**
 * The app's surface against other sites and floods, on the real app server (server/security):
 * security headers on every response, pages and refusals included; the REST API and socket.io
 * refuse a browser's foreign Origin (and accept none, as curl and servers send); state-changing
 * REST requests and socket events are rate-limited with clear answers; /metrics takes an
 * optional bearer token. That the pages work in Chromium under their CSP is test/e2e/csp.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import type { Reply } from '../../server/signaling/events.js';
import { createAssembly, request, setup, wireError, type RunningApp } from './appHelpers.js';

const FOREIGN = 'https://evil.example';

let running: RunningApp;

before(async () => {
  running = await setup();
});

after(async () => {
  await running?.teardown();
});

/** The response's CSP as directive name → its sources. */
function directives(response: Response): Map<string, string[]> {
  const policy = response.headers.get('content-security-policy') ?? '';
  return new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0] !== undefined && words[0] !== '')
      .map(([name, ...sources]) => [name as string, sources]),
  );
}

test('every response carries the security headers: pages, refusals, scripts, REST, /healthz', async () => {
  // An edge viewers fetch HLS from, on another origin: the pages' CSP must allow it.
  running.app.edges.add('test', {
    id: 'far',
    publicUrl: 'http://127.0.0.1:9',
    ingestUrl: 'rtmp://127.0.0.1:9/live',
  });
  const created = await createAssembly(running, 'Headers');
  const urls = [
    `${running.url}/`,
    `${running.url}${new URL(created.moderatorLink).pathname}${new URL(created.moderatorLink).search}`,
    `${running.url}/panel/${created.id}?token=forged`,
    `${running.url}/assets/panel.js`,
    `${running.url}/assets/notice.css`,
    `${running.url}/api/assemblies`,
    `${running.url}/healthz`,
    `${running.url}/no-such-thing`,
  ];
  for (const url of urls) {
    const response = await fetch(url);
    await response.arrayBuffer();
    const csp = directives(response);
    const where = `${new URL(url).pathname} (${response.status})`;
    assert.deepEqual(csp.get('script-src'), ["'self'"], `script-src of ${where}`);
    assert.deepEqual(csp.get('script-src-attr'), ["'none'"], `script-src-attr of ${where}`);
    assert.deepEqual(csp.get('style-src'), ["'self'"], `style-src of ${where}`);
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], `frame-ancestors of ${where}`);
    assert.deepEqual(csp.get('object-src'), ["'none'"], `object-src of ${where}`);
    for (const name of ['media-src', 'connect-src']) {
      assert.ok(csp.get(name)?.includes('http://127.0.0.1:9'), `${name} of ${where} has the edge`);
    }
    assert.ok(csp.get('media-src')?.includes('blob:'), `hls.js plays a MediaSource blob`);
    assert.ok(
      csp.get('connect-src')?.includes(running.url.replace('http:', 'ws:')),
      `socket.io's WebSocket in connect-src of ${where}`,
    );
    assert.equal(csp.has('upgrade-insecure-requests'), false, 'plain http: no upgrade');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', where);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', where);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', where);
    assert.equal(response.headers.get('strict-transport-security'), null, `no HSTS on http`);
  }

  // The HTML the server writes has no inline script, style or event handler left.
  for (const url of urls.slice(0, 3)) {
    const html = await (await fetch(url)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/i, `no inline script in ${url}`);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, `no inline style or handler: ${url}`);
  }
  running.app.edges.remove('test', 'far');
});

test('HSTS and upgrade-insecure-requests only when MONTAGE_PUBLIC_URL is https', async () => {
  const secure = await setup(undefined, { MONTAGE_PUBLIC_URL: 'https://assembly.school.example' });
  try {
    const response = await fetch(`${secure.url}/`);
    assert.match(response.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    assert.ok(directives(response).has('upgrade-insecure-requests'));
    assert.ok(directives(response).get('connect-src')?.includes('wss://assembly.school.example'));
  } finally {
    await secure.teardown();
  }
});

test('REST: a state change from a foreign Origin is refused with 403 and changes nothing; the own origin and no Origin are accepted', async () => {
  const before = await request(`${running.url}/api/assemblies`, 'GET', running.operatorToken);
  const count = (before.body as { assemblies: unknown[] }).assemblies.length;
  const create = (origin?: string): Promise<Response> =>
    fetch(`${running.url}/api/assemblies`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${running.operatorToken}`,
        'content-type': 'application/json',
        ...(origin === undefined ? {} : { origin }),
      },
      body: JSON.stringify({ name: 'Origin test' }),
    });

  const refused = await create(FOREIGN);
  assert.equal(refused.status, 403);
  const error = wireError(await refused.json());
  assert.equal(error.code, 'origin_forbidden');
  assert.match(error.message, /evil\.example/);
  assert.match(error.message, /MONTAGE_PUBLIC_URL/);
  // A look-alike and the opaque origin of a sandboxed page are foreign too.
  assert.equal((await create(`${running.url}.evil.example`)).status, 403);
  assert.equal((await create('null')).status, 403);
  const after = await request(`${running.url}/api/assemblies`, 'GET', running.operatorToken);
  assert.equal((after.body as { assemblies: unknown[] }).assemblies.length, count, 'none created');

  assert.equal((await create(running.url)).status, 201, 'the own origin');
  const port = new URL(running.url).port;
  assert.equal((await create(`http://localhost:${port}`)).status, 201, 'loopback by name');
  assert.equal((await create()).status, 201, 'no Origin: curl, servers');
});

test('MONTAGE_ALLOWED_ORIGINS adds origins; with MONTAGE_PUBLIC_URL set, only those are accepted', async () => {
  const other = await setup(undefined, {
    MONTAGE_PUBLIC_URL: 'https://assembly.school.example/',
    MONTAGE_ALLOWED_ORIGINS: 'https://montage.school.example:8443',
  });
  try {
    const post = (origin: string): Promise<number> =>
      fetch(`${other.url}/api/assemblies`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${other.operatorToken}`,
          'content-type': 'application/json',
          origin,
        },
        body: JSON.stringify({ name: 'Allowed' }),
      }).then((response) => response.status);
    assert.equal(await post('https://assembly.school.example'), 201);
    assert.equal(await post('https://montage.school.example:8443'), 201);
    assert.equal(await post('https://montage.school.example'), 403, 'another port');
    assert.equal(await post(other.url), 403, 'the loopback address is not the public URL');
  } finally {
    await other.teardown();
  }
});

test('socket.io: a foreign Origin is refused before any transport opens; the own origin connects', async () => {
  const created = await createAssembly(running, 'Socket origins');
  // The polling handshake itself answers 403 with the reason.
  const handshake = await fetch(`${running.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { origin: FOREIGN },
  });
  assert.equal(handshake.status, 403);
  assert.match(await handshake.text(), /origin_forbidden.*evil\.example/);

  const attempt = (origin: string | undefined, transport: 'websocket' | 'polling') =>
    new Promise<string>((resolve) => {
      const socket = io(running.url, {
        auth: { token: created.moderatorToken, assembly: created.id },
        transports: [transport],
        reconnection: false,
        forceNew: true,
        extraHeaders: origin === undefined ? {} : { origin },
      });
      socket.on('welcome', () => {
        socket.close();
        resolve('welcome');
      });
      socket.on('connect_error', (error) => {
        socket.close();
        resolve(`refused: ${error.message}`);
      });
    });
  for (const transport of ['websocket', 'polling'] as const) {
    assert.match(await attempt(FOREIGN, transport), /^refused/, `${transport} from ${FOREIGN}`);
    assert.equal(await attempt(running.url, transport), 'welcome', `${transport} own origin`);
    assert.equal(await attempt(undefined, transport), 'welcome', `${transport} without Origin`);
  }
});

test('REST: state changes beyond the limit get 429 rate_limited, per token; reads are not limited', async () => {
  const limited = await setup(undefined, { MONTAGE_RATE_LIMIT_REST_PER_MINUTE: '3' });
  try {
    const created = await createAssembly(limited, 'Limited'); // 1 of the operator's 3
    const invite = (token: string) =>
      request(`${limited.url}/api/assemblies/${created.id}/invites`, 'POST', token, {
        role: 'viewer',
      });
    assert.equal((await invite(limited.operatorToken)).status, 201);
    assert.equal((await invite(limited.operatorToken)).status, 201);
    const refused = await invite(limited.operatorToken);
    assert.equal(refused.status, 429);
    assert.equal(wireError(refused.body).code, 'rate_limited');
    assert.match(wireError(refused.body).message, /MONTAGE_RATE_LIMIT_REST_PER_MINUTE/);
    // Another token (the moderator's) has its own allowance; reads go on.
    assert.equal((await invite(created.moderatorToken)).status, 201);
    for (let i = 0; i < 5; i += 1) {
      const read = await request(`${limited.url}/api/assemblies`, 'GET', limited.operatorToken);
      assert.equal(read.status, 200);
    }
  } finally {
    await limited.teardown();
  }
});

test('socket.io: state-changing events beyond the limit are answered rate_limited; reads are not limited', async () => {
  const limited = await setup(undefined, { MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE: '3' });
  try {
    const created = await createAssembly(limited, 'Limited sockets');
    const socket = io(limited.url, {
      auth: { token: created.moderatorToken, assembly: created.id },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.on('welcome', () => resolve());
        socket.on('connect_error', reject);
      });
      const codes: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        // An invalid cut: refused by validation while allowed, by the limit after.
        const reply = (await socket.timeout(10_000).emitWithAck('program:cut', {
          kind: 'nothing',
        })) as Reply<unknown>;
        codes.push(reply.ok ? 'ok' : reply.error.code);
      }
      assert.deepEqual(codes, [
        'invalid_argument',
        'invalid_argument',
        'invalid_argument',
        'rate_limited',
        'rate_limited',
      ]);
      const errors: string[] = [];
      socket.on('request:error', (failure: { event: string; code: string }) =>
        errors.push(`${failure.event} ${failure.code}`),
      );
      socket.emit('layout:set', { layout: 'grid' }); // no ack: told by request:error
      const list = (await socket
        .timeout(10_000)
        .emitWithAck('presence:list', {})) as Reply<unknown>;
      assert.equal(list.ok, true, 'presence:list only reads: not limited');
      const deadline = Date.now() + 10_000;
      while (errors.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(errors, ['layout:set rate_limited']);
    } finally {
      socket.close();
    }
  } finally {
    await limited.teardown();
  }
});

test('/metrics needs Authorization: Bearer MONTAGE_METRICS_TOKEN when it is set', async () => {
  const open = await fetch(`${running.url}/metrics`);
  assert.equal(open.status, 200, 'no token configured: open (loopback only)');
  await open.arrayBuffer();
  const secret = 'scrape-me-0123456789abcdef';
  const guarded = await setup(undefined, { MONTAGE_METRICS_TOKEN: secret });
  try {
    const get = (authorization?: string) =>
      fetch(`${guarded.url}/metrics`, {
        headers: authorization === undefined ? {} : { authorization },
      });
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${secret}`, secret]) {
      const response = await get(authorization);
      assert.equal(response.status, 401, `refused with ${authorization}`);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="metrics"');
      assert.match(wireError(await response.json()).message, /MONTAGE_METRICS_TOKEN/);
    }
    const allowed = await get(`Bearer ${secret}`);
    assert.equal(allowed.status, 200);
    assert.match(await allowed.text(), /# TYPE/);
  } finally {
    await guarded.teardown();
  }
});
