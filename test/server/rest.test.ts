import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { tempDataDir, createAssembly, request, setup, tokenOf, wireError } from './appHelpers.js';

interface AssemblyBody {
  id: string;
  name: string;
  layout: string;
  maxTiles: number;
  recording: boolean;
  dvrMinutes: number;
}

test('a moderator creates, lists, reads, changes and deletes assemblies', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const { moderatorToken: firstModerator } = await createAssembly(running, 'Staff room');
  const api = `${running.url}/api/assemblies`;

  const created = await request(api, 'POST', firstModerator, {
    name: 'Friday assembly',
    layout: 'spotlight',
    maxTiles: 4,
    recording: true,
    dvrMinutes: 90,
  });
  assert.equal(created.status, 201);
  const { assembly, moderatorInvite } = created.body as {
    assembly: AssemblyBody & { streamKey?: string };
    moderatorInvite: { url: string };
  };
  assert.equal(assembly.name, 'Friday assembly');
  assert.equal(assembly.layout, 'spotlight');
  assert.equal(assembly.maxTiles, 4);
  assert.equal(assembly.recording, true);
  assert.equal(assembly.dvrMinutes, 90);
  assert.match(assembly.id, /^[A-Za-z0-9_-]{6,64}$/);
  assert.equal(assembly.streamKey, undefined, 'the stream key is a secret');
  assert.match(moderatorInvite.url, new RegExp(`^${running.url}/panel/${assembly.id}\\?token=`));
  const moderator = tokenOf(moderatorInvite.url);

  // A moderator sees only their own assembly; the operator sees all of them.
  const own = await request(api, 'GET', moderator);
  assert.equal(own.status, 200);
  assert.deepEqual(
    (own.body as { assemblies: AssemblyBody[] }).assemblies.map((a) => a.id),
    [assembly.id],
  );
  const all = await request(api, 'GET', running.operatorToken);
  assert.equal((all.body as { assemblies: AssemblyBody[] }).assemblies.length, 2);

  const read = await request(`${api}/${assembly.id}`, 'GET', moderator);
  assert.equal(read.status, 200);
  assert.equal((read.body as { assembly: AssemblyBody }).assembly.name, 'Friday assembly');

  const patched = await request(`${api}/${assembly.id}`, 'PATCH', moderator, {
    layout: 'grid',
    recording: false,
  });
  assert.equal(patched.status, 200);
  const after = (patched.body as { assembly: AssemblyBody }).assembly;
  assert.equal(after.layout, 'grid');
  assert.equal(after.recording, false);
  assert.equal(after.name, 'Friday assembly');

  const deleted = await request(`${api}/${assembly.id}`, 'DELETE', moderator);
  assert.equal(deleted.status, 204);
  const gone = await request(`${api}/${assembly.id}`, 'GET', running.operatorToken);
  assert.equal(gone.status, 404);
  assert.deepEqual(wireError(gone.body), {
    code: 'assembly_not_found',
    message: `assembly '${assembly.id}' does not exist`,
  });

  const audit = running.app.core.audit.recent().map((entry) => entry.action);
  assert.deepEqual(audit.slice(0, 3), ['assembly.delete', 'assembly.update', 'invite.create']);
});

test('missing, viewer and wrong-assembly tokens are refused with 401 or 403', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'A');
  const b = await createAssembly(running, 'B');
  const api = `${running.url}/api/assemblies`;

  const missing = await request(api, 'GET');
  assert.equal(missing.status, 401);
  assert.equal(wireError(missing.body).code, 'token_missing');
  assert.match(wireError(missing.body).message, /Authorization: Bearer <token>/);

  const forged = await request(api, 'GET', `${a.moderatorToken.slice(0, -4)}AAAA`);
  assert.equal(forged.status, 401);
  assert.equal(wireError(forged.body).code, 'token_invalid');

  const invite = await request(`${api}/${a.id}/invites`, 'POST', a.moderatorToken, {
    role: 'viewer',
  });
  const viewer = (invite.body as { token: string }).token;
  const asViewer = await request(api, 'POST', viewer, { name: 'mine' });
  assert.equal(asViewer.status, 403);
  assert.deepEqual(wireError(asViewer.body), {
    code: 'forbidden_role',
    message: 'a viewer token cannot create assemblies; this needs a moderator or operator token',
  });

  const wrong = await request(`${api}/${b.id}`, 'PATCH', a.moderatorToken, { name: 'taken over' });
  assert.equal(wrong.status, 403);
  assert.deepEqual(wireError(wrong.body), {
    code: 'wrong_assembly',
    message: `this token is for assembly '${a.id}', not for assembly '${b.id}'`,
  });
  const stillB = await request(`${api}/${b.id}`, 'GET', b.moderatorToken);
  assert.equal((stillB.body as { assembly: AssemblyBody }).assembly.name, 'B');
});

test('bad bodies get 400 with a message naming the field', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const api = `${running.url}/api/assemblies`;
  const cases: [string, string, unknown, string, RegExp][] = [
    [
      'POST',
      api,
      {},
      'invalid_argument',
      /^body\.name must be a string of 1 to 100 characters \(it is missing\)$/,
    ],
    [
      'POST',
      api,
      { name: 'x', layout: 'mosaic' },
      'invalid_argument',
      /body\.layout must be one of grid, spotlight, pip/,
    ],
    [
      'POST',
      api,
      { name: 'x', maxTiles: 0 },
      'invalid_argument',
      /body\.maxTiles must be an integer from 1 to 25/,
    ],
    [
      'POST',
      api,
      { name: 'x', colour: 'red' },
      'invalid_argument',
      /body has unknown field\(s\) colour/,
    ],
    ['POST', api, '{"name": ', 'invalid_json', /not valid JSON/],
    ['POST', api, [1, 2], 'invalid_argument', /body must be a JSON object \(got an array\)/],
    ['PATCH', `${api}/${a.id}`, {}, 'invalid_argument', /body must change at least one of/],
    [
      'PATCH',
      `${api}/${a.id}`,
      { recording: 'yes' },
      'invalid_argument',
      /body\.recording must be true or false/,
    ],
    [
      'POST',
      `${api}/${a.id}/invites`,
      { role: 'operator' },
      'invalid_argument',
      /body\.role must be one of camera, presenter, moderator, viewer/,
    ],
    [
      'POST',
      `${api}/${a.id}/invites`,
      { role: 'viewer', ttl: 5 },
      'invalid_argument',
      /body\.ttl must be an integer from 60/,
    ],
    [
      'GET',
      `${api}/bad!id`,
      undefined,
      'invalid_argument',
      /the assembly id in the path 'bad!id' is invalid/,
    ],
  ];
  for (const [method, url, body, code, message] of cases) {
    const response = await request(url, method, a.moderatorToken, body);
    assert.equal(response.status, 400, `${method} ${JSON.stringify(body)}`);
    assert.equal(wireError(response.body).code, code);
    assert.match(wireError(response.body).message, message);
  }
  const huge = await request(api, 'POST', a.moderatorToken, { name: 'x'.repeat(40_000) });
  assert.equal(huge.status, 413);
  assert.equal(wireError(huge.body).code, 'body_too_large');
});

test('invite links carry working tokens for their role and open their page', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const expectedPages = {
    camera: `/camera/${a.id}`,
    presenter: `/studio/${a.id}`,
    moderator: `/panel/${a.id}`,
    viewer: `/watch/${a.id}`,
  };
  for (const [role, path] of Object.entries(expectedPages)) {
    const minted = await request(
      `${running.url}/api/assemblies/${a.id}/invites`,
      'POST',
      a.moderatorToken,
      {
        role,
        ttl: 600,
      },
    );
    assert.equal(minted.status, 201);
    const { invite, token } = minted.body as {
      invite: { url: string; role: string };
      token: string;
    };
    assert.equal(invite.role, role);
    const url = new URL(invite.url);
    assert.equal(url.pathname, path);
    assert.equal(tokenOf(invite.url), token);
    const claims = running.app.core.tokens.verify(token);
    assert.equal(claims.role, role);
    assert.equal(claims.assembly, a.id);
    assert.ok(claims.expiresAt - claims.issuedAt === 600);

    const page = await fetch(invite.url);
    assert.equal(page.status, 200, `${role} page`);
    const html = await page.text();
    assert.match(html, new RegExp(`data-assembly="${a.id}" data-role="${role}"`));
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  }
  const listed = await request(
    `${running.url}/api/assemblies/${a.id}/invites`,
    'GET',
    a.moderatorToken,
  );
  // The creator's moderator link plus the four minted here.
  assert.equal((listed.body as { invites: unknown[] }).invites.length, 5);
});

test('pages refuse missing, wrong-role and wrong-assembly tokens with a clear message', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running, 'A');
  const b = await createAssembly(running, 'B');
  const viewerOfA = running.app.core.invites.mint(
    'test',
    parseAssemblyId(a.id),
    'viewer',
    600,
  ).token;

  const wrongAssembly = await fetch(`${running.url}/watch/${b.id}?token=${viewerOfA}`);
  assert.equal(wrongAssembly.status, 403);
  assert.match(
    await wrongAssembly.text(),
    new RegExp(`this token is for assembly &#39;${a.id}&#39;`),
  );

  const wrongRole = await fetch(`${running.url}/panel?token=${viewerOfA}`);
  assert.equal(wrongRole.status, 403);
  assert.match(await wrongRole.text(), /a viewer token cannot open the panel page/);

  const noToken = await fetch(`${running.url}/camera`);
  assert.equal(noToken.status, 401);
  assert.match(await noToken.text(), /open this page with the invite link/);

  const ok = await fetch(`${running.url}/watch/${a.id}?token=${viewerOfA}`);
  assert.equal(ok.status, 200);
  const script = await fetch(`${running.url}/assets/watch.js`);
  assert.equal(script.status, 200, 'the page bundle is built into dist/public');
});

test('/healthz reports ok and /metrics is Prometheus text with the assembly gauges', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  await createAssembly(running, 'one');
  await createAssembly(running, 'two');

  const health = await request(`${running.url}/healthz`, 'GET');
  assert.equal(health.status, 200);
  const report = health.body as {
    status: string;
    parts: Record<string, { ok: boolean; detail: string }>;
  };
  // The app runs without media and without an origin here: those parts say so.
  assert.equal(report.parts.database?.ok, true);
  assert.equal(report.parts.origin?.ok, false);
  assert.equal(report.status, 'degraded');

  const response = await fetch(`${running.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.ok(text.endsWith('\n'));
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE (montage_\w+) gauge$/.exec(line);
    if (type?.[1] !== undefined) {
      typed.add(type[1]);
      continue;
    }
    if (/^# HELP montage_\w+ .+$/.test(line)) continue;
    const sample =
      /^(montage_\w+)(\{(?:\w+="(?:[^"\\]|\\.)*",?)*\})? (-?[\d.e+]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(sample, `not a Prometheus sample line: ${line}`);
    samples.set(`${sample[1]}${sample[2] ?? ''}`, Number(sample[3]));
  }
  assert.deepEqual([...typed].sort(), [
    'montage_assemblies',
    'montage_cameras',
    'montage_disk_free_bytes',
    'montage_disk_low',
    'montage_media_server_connected',
    'montage_program_source',
    'montage_viewers',
  ]);
  assert.equal(samples.get('montage_assemblies'), 2);
  assert.equal(samples.get('montage_media_server_connected'), 0);
});

test('assemblies and invite links survive a restart on the same data dir', async (t) => {
  const dataDir = tempDataDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await setup(dataDir);
  t.after(() => first.teardown({ keepData: true }));
  const a = await createAssembly(first, 'Persistent');
  await first.teardown({ keepData: true });

  const second = await setup(dataDir);
  t.after(() => second.teardown({ keepData: true }));
  const read = await request(`${second.url}/api/assemblies/${a.id}`, 'GET', a.moderatorToken);
  assert.equal(read.status, 200, 'the old token verifies: the generated secret was persisted');
  assert.equal((read.body as { assembly: AssemblyBody }).assembly.name, 'Persistent');
  const invites = await request(
    `${second.url}/api/assemblies/${a.id}/invites`,
    'GET',
    a.moderatorToken,
  );
  assert.equal((invites.body as { invites: unknown[] }).invites.length, 1);
});

interface InviteBody {
  id: string;
  role: string;
  url: string;
  label: string | null;
  expiresAt: string;
  revokedAt: string | null;
}

test('a camera invite carries a validated label, signed into its token and listed', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const invitesUrl = `${running.url}/api/assemblies/${a.id}/invites`;

  const minted = await request(invitesUrl, 'POST', a.moderatorToken, {
    role: 'camera',
    label: '  Room 12  ',
    ttl: 3 * 24 * 3600,
  });
  assert.equal(minted.status, 201);
  const { invite, token } = minted.body as { invite: InviteBody; token: string };
  assert.equal(invite.label, 'Room 12', 'trimmed');
  assert.equal(invite.revokedAt, null);
  assert.equal(running.app.core.tokens.verify(token).label, 'Room 12');
  assert.equal(running.app.core.tokens.verify(token).inviteId, invite.id);
  const unlabelled = await request(invitesUrl, 'POST', a.moderatorToken, { role: 'viewer' });
  const viewerToken = (unlabelled.body as { token: string }).token;
  assert.equal(running.app.core.tokens.verify(viewerToken).label, undefined);

  for (const label of ['', '   ', 'x'.repeat(41), 'Room\n12', 'Room\u000712', 12, null]) {
    const refused = await request(invitesUrl, 'POST', a.moderatorToken, { role: 'camera', label });
    assert.equal(refused.status, 400, JSON.stringify(label));
    const error = wireError(refused.body);
    assert.equal(error.code, 'invalid_argument');
    assert.match(error.message, /^body\.label must be a label of 1 to 40 printable characters/);
  }

  // Every invite is listed, with its label, expiry and revocation.
  const listed = await request(invitesUrl, 'GET', a.moderatorToken);
  assert.equal(listed.status, 200);
  const invites = (listed.body as { invites: InviteBody[] }).invites;
  assert.deepEqual(
    invites.map((i) => [i.role, i.label, i.revokedAt]),
    [
      ['moderator', null, null],
      ['camera', 'Room 12', null],
      ['viewer', null, null],
    ],
  );
  const camera = invites.find((i) => i.id === invite.id);
  assert.equal(camera?.expiresAt, invite.expiresAt);
  const days = (Date.parse(invite.expiresAt) - Date.now()) / (24 * 3600_000);
  assert.ok(days > 2.99 && days <= 3, `expires in ${days} days`);
  const audit = running.app.core.audit
    .recent(10)
    .find((e) => e.action === 'invite.create' && e.details.inviteId === invite.id);
  assert.deepEqual(audit?.details, {
    role: 'camera',
    inviteId: invite.id,
    ttlSeconds: 3 * 24 * 3600,
    label: 'Room 12',
  });
});

test('revoking an invite refuses its tokens on REST, pages and HLS, and is audited once', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const a = await createAssembly(running);
  const b = await createAssembly(running, 'Other');
  const api = `${running.url}/api/assemblies/${a.id}`;
  const mint = async (
    role: string,
    label?: string,
  ): Promise<{ invite: InviteBody; token: string }> => {
    const minted = await request(`${api}/invites`, 'POST', a.moderatorToken, { role, label });
    assert.equal(minted.status, 201);
    return minted.body as { invite: InviteBody; token: string };
  };
  const camera = await mint('camera', 'Room 12');
  const viewer = await mint('viewer');
  const moderator = await mint('moderator');
  const revokeUrl = (inviteId: string): string => `${api}/invites/${inviteId}/revoke`;

  // Only a moderator of this assembly, or an operator, may revoke.
  const byViewer = await request(revokeUrl(camera.invite.id), 'POST', viewer.token);
  assert.equal(byViewer.status, 403);
  assert.equal(wireError(byViewer.body).code, 'forbidden_role');
  const byOther = await request(revokeUrl(camera.invite.id), 'POST', b.moderatorToken);
  assert.equal(byOther.status, 403);
  assert.equal(wireError(byOther.body).code, 'wrong_assembly');
  const anonymous = await request(revokeUrl(camera.invite.id), 'POST');
  assert.equal(anonymous.status, 401);
  // An invite of another assembly is not found here; a malformed id is a bad request.
  const bInvites = await request(
    `${running.url}/api/assemblies/${b.id}/invites`,
    'GET',
    b.moderatorToken,
  );
  const bInvite = (bInvites.body as { invites: InviteBody[] }).invites[0];
  for (const unknown of ['no-such-invite', bInvite?.id ?? '']) {
    const missing = await request(revokeUrl(unknown), 'POST', a.moderatorToken);
    assert.equal(missing.status, 404, unknown);
    assert.equal(wireError(missing.body).code, 'invite_not_found');
  }
  const malformed = await request(revokeUrl('bad!id'), 'POST', a.moderatorToken);
  assert.equal(malformed.status, 400);
  assert.match(wireError(malformed.body).message, /the invite id in the path 'bad!id' is invalid/);
  const withBody = await request(revokeUrl(camera.invite.id), 'POST', a.moderatorToken, {
    reason: 'x',
  });
  assert.equal(withBody.status, 400);
  assert.equal(running.app.core.tokens.verify(camera.token).label, 'Room 12', 'not revoked yet');

  const revoked = await request(revokeUrl(camera.invite.id), 'POST', a.moderatorToken);
  assert.equal(revoked.status, 200);
  const revokedAt = (revoked.body as { invite: InviteBody }).invite.revokedAt;
  assert.ok(revokedAt !== null && Date.parse(revokedAt) <= Date.now());
  // Again: the same answer, nothing changes.
  const again = await request(revokeUrl(camera.invite.id), 'POST', running.operatorToken, {});
  assert.equal(again.status, 200);
  assert.equal((again.body as { invite: InviteBody }).invite.revokedAt, revokedAt);
  const revocations = running.app.core.audit.recent(50).filter((e) => e.action === 'invite.revoke');
  assert.equal(revocations.length, 1);
  assert.equal(revocations[0]?.actor, `moderator@${a.id}`);
  assert.deepEqual(revocations[0]?.details, { role: 'camera', inviteId: camera.invite.id });

  // The camera link's page is refused in plain words.
  const page = await fetch(camera.invite.url);
  assert.equal(page.status, 401);
  const html = await page.text();
  assert.match(html, /<h1>This link was turned off<\/h1>/);
  assert.match(html, /This link was revoked; ask your teacher for a new one\./);
  assert.match(html, /data-code="token_revoked"/);

  // A revoked moderator link is refused by every REST route, a revoked viewer link by HLS.
  await request(revokeUrl(moderator.invite.id), 'POST', a.moderatorToken);
  await request(revokeUrl(viewer.invite.id), 'POST', a.moderatorToken);
  for (const [method, url] of [
    ['GET', api],
    ['GET', `${api}/invites`],
    ['POST', `${api}/invites`],
    ['PATCH', api],
    ['DELETE', api],
    ['POST', revokeUrl(camera.invite.id)],
  ] as const) {
    const body = method === 'POST' || method === 'PATCH' ? { role: 'viewer' } : undefined;
    const refused = await request(url, method, moderator.token, body);
    assert.equal(refused.status, 401, `${method} ${url}`);
    const error = wireError(refused.body);
    assert.equal(error.code, 'token_revoked');
    assert.equal(error.message, 'this link was revoked; ask your teacher for a new one');
  }
  const watch = await request(`${api}/watch`, 'GET', viewer.token);
  assert.equal(watch.status, 401);
  assert.equal(wireError(watch.body).code, 'token_revoked');
  const playlist = await fetch(`${api}/hls/live.m3u8?token=${encodeURIComponent(viewer.token)}`);
  assert.equal(playlist.status, 401);
  assert.equal(wireError(await playlist.json()).code, 'token_revoked');

  // The list shows which were revoked; the assembly's own moderator link still works.
  const listed = await request(`${api}/invites`, 'GET', a.moderatorToken);
  const byId = new Map((listed.body as { invites: InviteBody[] }).invites.map((i) => [i.id, i]));
  assert.equal(byId.get(camera.invite.id)?.revokedAt, revokedAt);
  assert.notEqual(byId.get(viewer.invite.id)?.revokedAt, null);
  assert.equal(byId.size, 4);
  assert.equal([...byId.values()].filter((i) => i.revokedAt === null).length, 1);
});

test('a revoked invite stays revoked after a restart', async (t) => {
  const dataDir = tempDataDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await setup(dataDir);
  t.after(() => first.teardown({ keepData: true }));
  const a = await createAssembly(first, 'Persistent');
  const minted = await request(
    `${first.url}/api/assemblies/${a.id}/invites`,
    'POST',
    a.moderatorToken,
    { role: 'moderator' },
  );
  const { invite, token } = minted.body as { invite: InviteBody; token: string };
  const revoked = await request(
    `${first.url}/api/assemblies/${a.id}/invites/${invite.id}/revoke`,
    'POST',
    a.moderatorToken,
  );
  assert.equal(revoked.status, 200);
  await first.teardown({ keepData: true });

  const second = await setup(dataDir);
  t.after(() => second.teardown({ keepData: true }));
  const read = await request(`${second.url}/api/assemblies/${a.id}`, 'GET', token);
  assert.equal(read.status, 401);
  assert.equal(wireError(read.body).code, 'token_revoked');
  const ok = await request(`${second.url}/api/assemblies/${a.id}`, 'GET', a.moderatorToken);
  assert.equal(ok.status, 200);
});
