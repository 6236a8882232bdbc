/**
 * A public assembly (issue 12: "an operator can turn [viewer tokens] off per assembly for a
 * public event"): its watch page opens without an invite link, handing the visitor an anonymous
 * viewer token that works only while the assembly stays public.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { request, setup, wireError } from './appHelpers.js';

test("a public assembly's watch page opens without a link, and its anonymous token ends when the assembly is private again", async () => {
  const running = await setup();
  try {
    const created = await request(`${running.url}/api/assemblies`, 'POST', running.operatorToken, {
      name: 'Open day',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body as { assembly: { id: string } }).assembly.id;
    const page = (query = ''): Promise<Response> =>
      fetch(`${running.url}/watch/${id}${query}`, { redirect: 'manual' });
    const setPublic = async (publicWatch: boolean): Promise<void> => {
      const set = await request(
        `${running.url}/api/assemblies/${id}/public-watch`,
        'PUT',
        running.operatorToken,
        { publicWatch },
      );
      assert.equal(set.status, 200, JSON.stringify(set.body));
    };

    // Not public: no link, no page.
    assert.equal((await page()).status, 401);

    await setPublic(true);
    const opened = await page();
    assert.equal(opened.status, 303);
    const location = new URL(opened.headers.get('location') ?? '', running.url);
    assert.equal(location.pathname, `/watch/${id}`);
    const token = location.searchParams.get('token') ?? '';
    const claims = running.app.core.tokens.verify(token);
    assert.equal(claims.role, 'viewer');
    assert.equal(claims.assembly, id);
    assert.equal(claims.publicViewer, true);
    assert.equal(claims.inviteId, undefined, 'no invite row per anonymous visitor');
    const shown = await page(`?token=${encodeURIComponent(token)}`);
    assert.equal(shown.status, 200);
    assert.match(await shown.text(), /data-page="watch"|watch/);
    // The anonymous token is a viewer's: it watches, and it does nothing more.
    const watch = await request(`${running.url}/api/assemblies/${id}/watch`, 'GET', token);
    assert.equal(watch.status, 200, JSON.stringify(watch.body));
    const invite = await request(`${running.url}/api/assemblies/${id}/invites`, 'POST', token, {
      role: 'viewer',
    });
    assert.equal(invite.status, 403);

    // Private again: the page needs a link, and the anonymous token is refused everywhere.
    await setPublic(false);
    assert.equal((await page()).status, 401);
    assert.equal((await page(`?token=${encodeURIComponent(token)}`)).status, 401);
    const refused = await request(`${running.url}/api/assemblies/${id}/watch`, 'GET', token);
    assert.equal(refused.status, 401);
    assert.equal(wireError(refused.body).code, 'token_revoked');
    assert.match(wireError(refused.body).message, /no longer public/);
    // An invited viewer still watches.
    const viewer = running.app.core.invites.mint('test', parseAssemblyId(id), 'viewer', 600);
    const viewerToken = new URL(viewer.invite.url).searchParams.get('token') ?? '';
    const invited = await request(`${running.url}/api/assemblies/${id}/watch`, 'GET', viewerToken);
    assert.equal(invited.status, 200);
  } finally {
    await running.teardown();
  }
});

test('only a viewer of one assembly can carry the public claim', async () => {
  const running = await setup();
  try {
    const tokens = running.app.core.tokens;
    const operator = tokens.verify(running.operatorToken);
    assert.equal(operator.publicViewer, false);
    assert.throws(
      () =>
        tokens.sign({
          assembly: operator.assembly,
          role: 'operator',
          ttlSeconds: 60,
          publicViewer: true,
        }),
      /only a viewer of one assembly/,
    );
  } finally {
    await running.teardown();
  }
});
