/**
 * The operator's REST for the edge fleet and the audit log, on the real app server: who may
 * call it, how bad bodies, duplicates and unknown edges are refused, what each change answers
 * and writes into the audit log, and that the fleet survives a restart. The edges here do not
 * run (their probes fail): test/edge/fleet.test.ts drives real ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { AuditEntryWire, EdgeWire } from '../../server/edges/wire.js';
import { createAssembly, request, setup, tempDataDir, wireError } from './appHelpers.js';

const EDGE = {
  id: 'edge1',
  publicUrl: 'https://edge1.school.example/',
  ingestUrl: 'rtmp://10.0.0.21/live',
  statusUrl: 'http://10.0.0.21:8090',
};

test('only operators may list and change edges: no token 401, other roles 403', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const assembly = await createAssembly(running);
  const viewer = running.app.core.invites.mint(
    'test',
    parseAssemblyId(assembly.id),
    'viewer',
    600,
  ).token;
  const missing = await request(`${running.url}/api/edges`, 'GET');
  assert.equal(missing.status, 401);
  assert.equal(wireError(missing.body).code, 'token_missing');
  for (const token of [assembly.moderatorToken, viewer]) {
    for (const [method, path] of [
      ['GET', '/api/edges'],
      ['POST', '/api/edges'],
      ['POST', '/api/edges/edge1/drain'],
      ['DELETE', '/api/edges/edge1'],
      ['GET', '/api/audit'],
    ] as const) {
      const body = method === 'POST' ? EDGE : undefined;
      const refused = await request(`${running.url}${path}`, method, token, body);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(wireError(refused.body).code, 'forbidden_role');
    }
  }
  const moderator = await request(`${running.url}/api/edges`, 'GET', assembly.moderatorToken);
  assert.equal(
    wireError(moderator.body).message,
    'a moderator token cannot list edges; this needs an operator token',
  );
});

test('an operator adds, reads, drains, activates and removes an edge; each change is audited', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const token = running.operatorToken;
  const url = running.url;

  const empty = await request(`${url}/api/edges`, 'GET', token);
  assert.deepEqual(empty, { status: 200, body: { edges: [] } });

  const added = await request(`${url}/api/edges`, 'POST', token, EDGE);
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const edge = (added.body as { edge: EdgeWire }).edge;
  assert.deepEqual(
    {
      id: edge.id,
      publicUrl: edge.publicUrl,
      ingestUrl: edge.ingestUrl,
      statusUrl: edge.statusUrl,
      state: edge.state,
      local: edge.local,
      createdBy: edge.createdBy,
    },
    {
      id: 'edge1',
      // Stored as MONTAGE_EDGES entries are: no trailing slash, the RTMP port written out.
      publicUrl: 'https://edge1.school.example',
      ingestUrl: 'rtmp://10.0.0.21:1935/live',
      statusUrl: 'http://10.0.0.21:8090',
      state: 'active',
      local: false,
      createdBy: 'operator',
    },
  );
  assert.equal(edge.status.healthy, false, 'not probed healthy yet');

  // Without an id and a status URL: the id is the public URL's host, probes go to the public URL.
  const second = await request(`${url}/api/edges`, 'POST', token, {
    publicUrl: 'http://10.0.0.22:8090',
    ingestUrl: 'rtmp://10.0.0.22:1936/live',
  });
  assert.equal(second.status, 201, JSON.stringify(second.body));
  const secondEdge = (second.body as { edge: EdgeWire }).edge;
  assert.equal(secondEdge.id, '10.0.0.22-8090');
  assert.equal(secondEdge.statusUrl, 'http://10.0.0.22:8090');

  const read = await request(`${url}/api/edges/edge1`, 'GET', token);
  assert.equal(read.status, 200);
  assert.equal((read.body as { edge: EdgeWire }).edge.id, 'edge1');
  const list = await request(`${url}/api/edges`, 'GET', token);
  assert.deepEqual(
    (list.body as { edges: EdgeWire[] }).edges.map((e) => e.id),
    ['edge1', '10.0.0.22-8090'],
  );

  const drained = await request(`${url}/api/edges/edge1/drain`, 'POST', token);
  assert.equal(drained.status, 200);
  assert.equal((drained.body as { edge: EdgeWire }).edge.state, 'draining');
  const again = await request(`${url}/api/edges/edge1/drain`, 'POST', token);
  assert.equal((again.body as { edge: EdgeWire }).edge.state, 'draining', 'draining twice is fine');
  const activated = await request(`${url}/api/edges/edge1/activate`, 'POST', token);
  assert.equal((activated.body as { edge: EdgeWire }).edge.state, 'active');

  const removed = await request(`${url}/api/edges/10.0.0.22-8090`, 'DELETE', token);
  assert.deepEqual(removed, { status: 204, body: undefined });
  const gone = await request(`${url}/api/edges/10.0.0.22-8090`, 'GET', token);
  assert.equal(gone.status, 404);
  assert.deepEqual(wireError(gone.body), {
    code: 'edge_not_found',
    message: "edge '10.0.0.22-8090' does not exist",
  });

  const audit = await request(`${url}/api/audit?limit=5`, 'GET', token);
  assert.equal(audit.status, 200);
  const entries = (audit.body as { entries: AuditEntryWire[] }).entries;
  assert.deepEqual(
    entries.map((entry) => [entry.actor, entry.action, entry.details.edge]),
    [
      ['operator', 'edge.remove', '10.0.0.22-8090'],
      ['operator', 'edge.activate', 'edge1'],
      ['operator', 'edge.drain', 'edge1'],
      ['operator', 'edge.add', '10.0.0.22-8090'],
      ['operator', 'edge.add', 'edge1'],
    ],
    'newest first; draining an edge that drains already changes nothing and is not recorded',
  );
  assert.deepEqual(entries[4]?.details, {
    edge: 'edge1',
    publicUrl: 'https://edge1.school.example',
    ingestUrl: 'rtmp://10.0.0.21:1935/live',
    statusUrl: 'http://10.0.0.21:8090',
    state: 'active',
  });
});

test('bad bodies get 400 naming the field, duplicates 409, unknown edges 404', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const token = running.operatorToken;
  const post = (body: unknown) => request(`${running.url}/api/edges`, 'POST', token, body);
  assert.equal((await post(EDGE)).status, 201);

  const cases: Array<[unknown, string]> = [
    ['not json', 'the request body is not valid JSON'],
    [{ ...EDGE, id: 'edge9', colour: 'red' }, 'body has unknown field(s) colour'],
    [{ id: 'edge9', ingestUrl: 'rtmp://10.0.0.9/live' }, 'body.publicUrl must be a URL'],
    [
      { ...EDGE, id: 'edge9', publicUrl: 'ftp://edge9.example' },
      "publicUrl must be an http:// or https:// base URL without ?query, #fragment or user:password@ (got 'ftp://edge9.example')",
    ],
    [
      { ...EDGE, id: 'edge9', publicUrl: 'https://edge9.example/?token=1' },
      'publicUrl must be an http:// or https:// base URL',
    ],
    [
      { ...EDGE, id: 'edge9', publicUrl: 'https://edge9.example', ingestUrl: 'rtmp://10.0.0.9' },
      "ingestUrl must be rtmp://HOST:PORT/APP (e.g. rtmp://10.0.0.5:1936/live) (got 'rtmp://10.0.0.9')",
    ],
    [
      {
        id: 'edge9',
        publicUrl: 'https://edge9.example',
        ingestUrl: 'rtmp://10.0.0.9/live',
        statusUrl: 'https://user:pw@edge9.example',
      },
      'statusUrl must be an http:// or https:// base URL',
    ],
    [
      { publicUrl: 'https://edge9.example', ingestUrl: 'rtmp://10.0.0.9/live', id: 'a b' },
      "id must be 1 to 64 of A-Z a-z 0-9 . _ - (got 'a b')",
    ],
    [
      { publicUrl: 'https://edge9.example', ingestUrl: 'rtmp://10.0.0.9/live', id: 'local' },
      "id 'local' is the local edge's (MONTAGE_LOCAL_EDGE); choose another",
    ],
    [
      {
        publicUrl: 'https://edge9.example',
        ingestUrl: `rtmp://127.0.0.1:${running.app.config.rtmpPort}/live`,
      },
      `is the origin itself (MONTAGE_RTMP_PORT=${running.app.config.rtmpPort})`,
    ],
  ];
  for (const [body, message] of cases) {
    const refused = await post(body);
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.ok(
      wireError(refused.body).message.includes(message),
      `${JSON.stringify(body)}: ${wireError(refused.body).message}`,
    );
  }

  for (const [body, message] of [
    [
      { ...EDGE, publicUrl: 'https://other.example', ingestUrl: 'rtmp://10.0.0.99/live' },
      "edge 'edge1' already has the id edge1; choose another id",
    ],
    [
      { ...EDGE, id: 'edge2', ingestUrl: 'rtmp://10.0.0.99/live' },
      "edge 'edge1' already has the public URL https://edge1.school.example; each edge is registered once",
    ],
    [
      {
        ...EDGE,
        id: 'edge2',
        publicUrl: 'https://other.example',
        ingestUrl: 'rtmp://10.0.0.21:1935/live/',
      },
      "edge 'edge1' already has the ingest URL rtmp://10.0.0.21:1935/live; each edge is registered once",
    ],
  ] as const) {
    const conflict = await post(body);
    assert.equal(conflict.status, 409, JSON.stringify(body));
    assert.deepEqual(wireError(conflict.body), { code: 'edge_conflict', message });
  }

  const badPath = await request(`${running.url}/api/edges/a%20b/drain`, 'POST', token);
  assert.equal(badPath.status, 400);
  assert.match(wireError(badPath.body).message, /the edge id in the path must be/);
  for (const [method, path] of [
    ['GET', '/api/edges/nowhere'],
    ['POST', '/api/edges/nowhere/drain'],
    ['POST', '/api/edges/nowhere/activate'],
    ['DELETE', '/api/edges/nowhere'],
  ] as const) {
    const unknown = await request(`${running.url}${path}`, method, token);
    assert.equal(unknown.status, 404, `${method} ${path}`);
    assert.equal(wireError(unknown.body).code, 'edge_not_found');
  }
  for (const limit of ['0', '501', 'ten', '']) {
    const refused = await request(`${running.url}/api/audit?limit=${limit}`, 'GET', token);
    assert.equal(refused.status, 400, `limit=${limit}`);
    assert.match(wireError(refused.body).message, /^limit must be an integer from 1 to 500/);
  }
  const list = await request(`${running.url}/api/edges`, 'GET', token);
  assert.deepEqual(
    (list.body as { edges: EdgeWire[] }).edges.map((edge) => edge.id),
    ['edge1'],
    'nothing refused was stored',
  );
});

test('the local edge can be drained but not removed, and the error says why', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const token = running.operatorToken;
  // Registered as server/delivery.ts does once its nginx runs (none runs here: probes fail).
  running.app.edges.addLocal({
    publicUrl: 'http://127.0.0.1:1',
    ingestUrl: 'rtmp://127.0.0.1:2/live',
    statusUrl: 'http://127.0.0.1:1',
  });
  const refused = await request(`${running.url}/api/edges/local`, 'DELETE', token);
  assert.equal(refused.status, 409);
  assert.equal(wireError(refused.body).code, 'edge_local');
  assert.match(
    wireError(refused.body).message,
    /^edge 'local' is the local edge, which this app server runs itself \(MONTAGE_LOCAL_EDGE=true\).*drain it/,
  );
  const drained = await request(`${running.url}/api/edges/local/drain`, 'POST', token);
  assert.equal(drained.status, 200);
  assert.deepEqual(
    [
      (drained.body as { edge: EdgeWire }).edge.state,
      (drained.body as { edge: EdgeWire }).edge.local,
    ],
    ['draining', true],
  );
  const duplicate = await request(`${running.url}/api/edges`, 'POST', token, {
    id: 'copy',
    publicUrl: 'https://copy.example',
    ingestUrl: 'rtmp://127.0.0.1:2/live',
  });
  assert.equal(duplicate.status, 409);
  assert.match(wireError(duplicate.body).message, /^edge 'local' already has the ingest URL/);
});

test('edges survive a restart; the local edge is not stored', async (t) => {
  const dataDir = tempDataDir();
  const first = await setup(dataDir);
  first.app.edges.addLocal({
    publicUrl: 'http://127.0.0.1:1',
    ingestUrl: 'rtmp://127.0.0.1:2/live',
    statusUrl: 'http://127.0.0.1:1',
  });
  assert.equal(
    (await request(`${first.url}/api/edges`, 'POST', first.operatorToken, EDGE)).status,
    201,
  );
  assert.equal(
    (await request(`${first.url}/api/edges/edge1/drain`, 'POST', first.operatorToken)).status,
    200,
  );
  await first.teardown({ keepData: true });
  const second = await setup(dataDir);
  t.after(() => second.teardown());
  const list = await request(`${second.url}/api/edges`, 'GET', second.operatorToken);
  assert.deepEqual(
    (list.body as { edges: EdgeWire[] }).edges.map((edge) => [edge.id, edge.state]),
    [['edge1', 'draining']],
  );
});
