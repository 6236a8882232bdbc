/**
 * The browser pages in real Chromium (fake camera and microphone) against the real app server:
 * each page opened with a valid invite link connects and shows its key controls, pages see each
 * other through presence (a camera appears in the studio), and a link for another assembly is
 * refused with the server's reason. No media server is needed: the pages must stay usable and
 * say what they are waiting for.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { io } from 'socket.io-client';
import { parseAssemblyId, type AssemblyId } from '../../server/domain/ids.js';
import { plainRefusal } from '../../server/http/pages.js';
import type { Reply } from '../../server/signaling/events.js';
import { launchChromium } from '../helpers/browser.js';
import { classify, makeQuadrantClip } from '../helpers/media.js';
import { sampleVideo } from '../helpers/pixels.js';
import { createAssembly, setup, type RunningApp } from './appHelpers.js';

const WAIT_MS = 10_000;

let running: RunningApp;
let browser: Browser;
let assemblyId: AssemblyId;
let otherAssemblyId: AssemblyId;

before(async () => {
  running = await setup();
  browser = await launchChromium();
  assemblyId = parseAssemblyId((await createAssembly(running, 'Friday assembly')).id);
  otherAssemblyId = parseAssemblyId((await createAssembly(running, 'Year 9 science')).id);
});

after(async () => {
  await browser?.close();
  await running?.teardown();
});

/** An invite link for `role` in the test assembly. */
function link(role: 'camera' | 'presenter' | 'moderator' | 'viewer'): string {
  return running.app.core.invites.mint('test', assemblyId, role, 600).invite.url;
}

/** Opens `url` in a fresh context; the page is closed with the test. */
async function open(t: { after: (fn: () => Promise<void>) => void }, url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // What the page's Content-Security-Policy refused (Chromium says so on the console).
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) errors.push(`CSP: ${message.text()}`);
  });
  t.after(() => {
    assert.deepEqual(errors, [], 'the page threw no uncaught errors and nothing was refused');
    return Promise.resolve();
  });
  const response = await page.goto(url);
  assert.equal(response?.status(), 200, `${url} opens`);
  return page;
}

/** Waits until the header says the signaling connection is up. */
async function connected(page: Page): Promise<void> {
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  assert.equal(await page.locator('#assembly-name').textContent(), 'Friday assembly');
}

test('the server address alone opens a page that says what this is and how to join', async (t) => {
  const response = await fetch(`${running.url}/`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  const page = await open(t, `${running.url}/`);
  assert.ok(await page.getByRole('heading', { name: /Montage/ }).isVisible());
  assert.ok(await page.getByText('Open the invite link you were given').isVisible());
  assert.ok(await page.getByText('npm run token -- --create').isVisible());
  if (process.env.SCREENSHOTS !== undefined) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'landing.png') });
  }
});

test('the camera page connects, previews the fake camera and offers device choices', async (t) => {
  const page = await open(t, link('camera'));
  await connected(page);
  // A select's accessible name is its label followed by the chosen option.
  const camera = page.getByRole('combobox', { name: /^Camera/ });
  const microphone = page.getByRole('combobox', { name: /^Microphone/ });
  await camera.waitFor({ timeout: WAIT_MS });
  // Device labels are only known after permission: the fake devices name themselves.
  await page.waitForFunction(
    () => (document.querySelector('#camera-select option')?.textContent ?? '') !== '',
    undefined,
    { timeout: WAIT_MS },
  );
  assert.ok((await camera.locator('option').count()) >= 1, 'a camera to choose');
  assert.ok((await microphone.locator('option').count()) >= 1, 'a microphone to choose');
  await page.waitForFunction(
    () => {
      const video = document.querySelector<HTMLVideoElement>('video');
      return video !== null && video.readyState >= 2 && video.videoWidth > 0;
    },
    undefined,
    { timeout: WAIT_MS },
  );
  assert.ok(await page.getByRole('button', { name: 'Mute microphone' }).isVisible());
  assert.ok(await page.locator('#publish-state').isVisible(), 'the publishing state is shown');
  assert.equal(await page.getByText('ON AIR').isVisible(), false, 'not on air yet');
});

test('the studio lists the sources to cut to, and a camera that joins appears there', async (t) => {
  const studio = await open(t, link('presenter'));
  await connected(studio);
  assert.ok(await studio.getByRole('button', { name: 'All cameras' }).isVisible());
  assert.ok(await studio.getByLabel('Program monitor').isVisible());
  assert.match((await studio.locator('#program-label').textContent()) ?? '', /All cameras/);
  assert.ok(await studio.getByText('No camera has joined yet.').isVisible());

  const camera = await open(t, link('camera'));
  await connected(camera);
  await studio
    .getByRole('button', { name: 'Camera 1' })
    .waitFor({ state: 'visible', timeout: WAIT_MS });
});

test('the panel shows cameras, layout, recording, invite links, library and assemblies', async (t) => {
  const page = await open(t, link('moderator'));
  await connected(page);
  for (const heading of [
    'Program and audience',
    'Cameras',
    'Layout',
    'Recording',
    'Archive',
    'Invite links',
    'Video library',
    'Assemblies',
  ]) {
    assert.ok(await page.getByRole('heading', { name: heading }).isVisible(), heading);
  }
  for (const layout of ['Grid', 'Spotlight', 'Picture in picture']) {
    assert.ok(await page.getByRole('radio', { name: layout }).isVisible(), layout);
  }
  assert.equal(await page.getByRole('radio', { name: 'Grid' }).isChecked(), true);
  assert.equal(await page.getByLabel('Most cameras shown at once').inputValue(), '9');
  assert.ok(await page.getByRole('button', { name: 'Start recording' }).isVisible());
  assert.ok(await page.getByLabel('Add a video').isVisible());
  await page.locator('#assembly-list').getByText('Friday assembly').waitFor({ timeout: WAIT_MS });

  // Invite links come from REST with the moderator's token: one more after "Create link".
  const invites = page.locator('#invite-list li');
  await invites.first().waitFor({ timeout: WAIT_MS });
  const before = await invites.count();
  await page.getByLabel('Link for a').selectOption('viewer');
  await page.getByRole('button', { name: 'Create link' }).click();
  await page.waitForFunction(
    (n) => document.querySelectorAll('#invite-list li').length === n + 1,
    before,
    { timeout: WAIT_MS },
  );

  // The layout goes over signaling and comes back as the assembly's new settings.
  await page.getByRole('radio', { name: 'Spotlight' }).check();
  await page.getByLabel('Most cameras shown at once').fill('4');
  await page.getByRole('button', { name: 'Apply layout' }).click();
  await page.getByText('Layout applied.').waitFor({ timeout: WAIT_MS });
  const assembly = running.app.core.assemblies.get(assemblyId);
  assert.equal(assembly.layout, 'spotlight');
  assert.equal(assembly.maxTiles, 4);
});

test('an operator makes an assembly public on the panel and back; a moderator sees it and has no switch', async (t) => {
  const operator = running.app.core.invites.mintOperator('test', 600).token;
  const page = await open(t, `${running.url}/panel?token=${operator}&assembly=${otherAssemblyId}`);
  const toggle = page.locator(`[data-public-watch="${otherAssemblyId}"]`);
  await toggle.waitFor({ timeout: WAIT_MS });
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  assert.equal(await toggle.textContent(), 'Links only');
  await toggle.click();
  await page.getByText('“Year 9 science” is public').waitFor({ timeout: WAIT_MS });
  assert.equal(running.app.core.assemblies.get(otherAssemblyId).publicWatch, true);
  await page
    .locator(`[data-public-watch="${otherAssemblyId}"][aria-pressed="true"]`)
    .waitFor({ timeout: WAIT_MS });
  const audited = running.app.core.audit
    .recent(20)
    .filter((entry) => entry.action === 'assembly.public-watch');
  assert.equal(audited.length, 1, JSON.stringify(audited));
  assert.equal(audited[0]?.actor, 'operator');

  // A moderator of that assembly sees that it is public, and cannot change it.
  const moderator = running.app.core.invites.mint('test', otherAssemblyId, 'moderator', 600);
  const moderatorPage = await open(t, moderator.invite.url);
  await moderatorPage.locator('#assembly-list .pill', { hasText: 'PUBLIC' }).waitFor({
    timeout: WAIT_MS,
  });
  assert.equal(await moderatorPage.locator('[data-public-watch]').count(), 0);

  await page.locator(`[data-public-watch="${otherAssemblyId}"]`).click();
  await page.getByText('“Year 9 science” needs a viewer link again.').waitFor({ timeout: WAIT_MS });
  assert.equal(running.app.core.assemblies.get(otherAssemblyId).publicWatch, false);
});

test("the panel's library shows each clip's duration and picture size, as the server's probe read them, and says it is this assembly's own", async (t) => {
  const folder = running.app.library.folder(assemblyId);
  mkdirSync(folder, { recursive: true });
  await makeQuadrantClip(path.join(folder, 'probed.mp4'), ['red', 'red', 'red', 'red'], {
    seconds: 3,
    container: 'mp4',
    width: 320,
    height: 180,
  });
  const page = await open(t, link('moderator'));
  await connected(page);
  await page
    .locator('#library-list li[data-video="probed.mp4"]')
    .getByText('0:03 · 320×180')
    .waitFor({ timeout: WAIT_MS });
  assert.equal(
    await page.locator('#library-scope').textContent(),
    "This assembly's own videos: other assemblies neither see nor change them.",
  );
});

test('a camera page closed right after it connected leaves the assembly at once', async () => {
  // Pages connect over WebSocket first (public/src/lib/connect.ts): a page that closes is gone
  // from the server when its socket closes, not when a heartbeat times out.
  const cameras = (): number =>
    running.app.live.find(assemblyId)?.participants.filter((p) => p.role === 'camera').length ?? 0;
  await waitUntil(() => cameras() === 0);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link('camera'));
  await connected(page);
  assert.equal(cameras(), 1);
  await context.close();
  const closedAt = Date.now();
  await waitUntil(() => cameras() === 0);
  const ms = Date.now() - closedAt;
  // The heartbeat (10 s + 5 s) would take far longer than this.
  assert.ok(ms < 5000, `the camera left ${ms} ms after its page closed`);
});

test('a reloaded camera page keeps its camera, and the panel chooses which cameras the layout shows', async (t) => {
  // The camera page of an earlier test keeps its place for the camera grace period after it
  // closed: start once it has gone, so that the cameras here are the only ones.
  await waitUntil(
    () =>
      (running.app.live.find(assemblyId)?.participants.filter((p) => p.role === 'camera').length ??
        0) === 0,
  );
  const panel = await open(t, link('moderator'));
  await connected(panel);
  const cameraIdOf = async (page: Page): Promise<string> => {
    const text = page.getByText(/^Camera id cam-/);
    await text.waitFor({ timeout: WAIT_MS });
    return ((await text.textContent()) ?? '').replace('Camera id ', '');
  };
  const first = await open(t, link('camera'));
  await connected(first);
  const firstId = await cameraIdOf(first);
  const second = await open(t, link('camera'));
  await connected(second);
  const secondId = await cameraIdOf(second);

  // The page keeps its camera key in sessionStorage: reloaded within the grace period, it is
  // the same camera (not a third one).
  await first.reload();
  await connected(first);
  assert.equal(await cameraIdOf(first), firstId, 'the reloaded page has its camera id back');
  const cameras = running.app.live
    .find(assemblyId)
    ?.participants.filter((p) => p.role === 'camera')
    .map((p) => p.cameraId);
  assert.deepEqual(cameras?.sort(), [firstId, secondId].sort());

  // Every camera is shown until the moderator unticks one; the choice goes with the layout.
  const choice = panel.locator('#layout-cameras');
  await choice.getByRole('checkbox').nth(1).waitFor({ timeout: WAIT_MS });
  assert.equal(await choice.getByRole('checkbox').count(), 2);
  await choice.getByRole('checkbox').first().uncheck();
  await panel.getByRole('radio', { name: 'Grid' }).check();
  await panel.getByRole('button', { name: 'Apply layout' }).click();
  await panel.getByText('Layout applied.').waitFor({ timeout: WAIT_MS });
  const chosen = running.app.live.find(assemblyId)?.layout.cameras;
  assert.equal(chosen?.length, 1);
  assert.ok(chosen?.[0] === firstId || chosen?.[0] === secondId, `chose ${String(chosen)}`);
  await panel.getByRole('button', { name: 'Show every camera' }).click();
  await panel.getByRole('button', { name: 'Apply layout' }).click();
  await panel.waitForFunction(
    () => document.querySelector('#layout-cameras legend')?.textContent?.includes('every'),
    undefined,
    { timeout: WAIT_MS },
  );
  await waitUntil(() => running.app.live.find(assemblyId)?.layout.cameras === undefined);
});

/** Polls `condition` until it holds (or fails the test after WAIT_MS). */
async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the watch page has the player, reactions and says what it waits for', async (t) => {
  const page = await open(t, link('viewer'));
  await connected(page);
  assert.ok(await page.getByLabel('The assembly').isVisible(), 'the player');
  for (const label of ['Clap', 'Love it', 'Laugh', 'Wow', 'Question']) {
    assert.ok(await page.getByRole('button', { name: label }).isEnabled(), label);
  }
  // Without a media server nothing is live: the overlay says so instead of a black box.
  await page
    .getByText(/Waiting for the presenter|Starting the picture/)
    .waitFor({ timeout: WAIT_MS });
});

test('a watch link for another assembly is refused with the reason', async (t) => {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const viewerToken = running.app.core.invites.mint('test', assemblyId, 'viewer', 600).token;
  const response = await page.goto(
    `${running.url}/watch/${otherAssemblyId}?token=${encodeURIComponent(viewerToken)}`,
  );
  assert.equal(response?.status(), 403);
  // Plain words first; the technical reason is folded away for whoever helps.
  assert.ok(
    await page.getByRole('heading', { name: 'This link is for another assembly' }).isVisible(),
  );
  const error = page.locator('#error');
  assert.equal(await error.isVisible(), false, 'the technical reason is folded away');
  await page.getByText('Technical details').click();
  assert.equal(await error.isVisible(), true);
  assert.match(
    (await error.textContent()) ?? '',
    new RegExp(`this token is for assembly '${assemblyId}'`),
  );
  assert.equal(await page.locator('#app').count(), 0, 'no page script runs');
});

test('a page opened without its link, or with an expired one, says so plainly', async (t) => {
  const page = await open(t, `${running.url}/`);
  const response = await page.goto(`${running.url}/camera/${assemblyId}`);
  assert.equal(response?.status(), 401);
  assert.ok(
    await page.getByRole('heading', { name: 'This page needs your invite link' }).isVisible(),
  );
  assert.ok(await page.getByText('ask your teacher for one').isVisible());
  if (process.env.SCREENSHOTS !== undefined) {
    await page.getByText('Technical details').click();
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'refused.png') });
  }
  assert.equal(
    plainRefusal('token_expired').advice,
    'This link has expired; ask your teacher for a new one.',
  );
});

test('a revoked link’s page says plainly that it was turned off', async (t) => {
  const { invite } = running.app.core.invites.mint('test', assemblyId, 'camera', 600, 'Room 12');
  running.app.core.invites.revoke('test', assemblyId, invite.id);
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const response = await page.goto(invite.url);
  assert.equal(response?.status(), 401);
  assert.ok(await page.getByRole('heading', { name: 'This link was turned off' }).isVisible());
  assert.ok(
    await page.getByText('This link was revoked; ask your teacher for a new one.').isVisible(),
  );
  assert.equal(await page.locator('#error').getAttribute('data-code'), 'token_revoked');
  assert.equal(await page.locator('#app').count(), 0, 'no page script runs');
});

test('a camera the moderator removed says so, offers no Rejoin, and a reload does not bring it back', async (t) => {
  const removedMessage = 'The moderator removed this camera from the assembly.';
  const cameraIds = (): string[] =>
    running.app.live
      .find(assemblyId)
      ?.participants.filter((p) => p.role === 'camera')
      .map((p) => p.cameraId ?? '') ?? [];
  const page = await open(t, link('camera'));
  await connected(page);
  const label = page.getByText(/^Camera id cam-/);
  await label.waitFor({ timeout: WAIT_MS });
  const cameraId = ((await label.textContent()) ?? '').replace('Camera id ', '');
  assert.ok(cameraIds().includes(cameraId));

  // The moderator's panel removes it (over the panel's own signaling message).
  const moderator = io(running.url, {
    auth: { token: running.app.core.invites.mint('test', assemblyId, 'moderator', 600).token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  t.after(() => {
    moderator.close();
    return Promise.resolve();
  });
  await new Promise<void>((resolve, reject) => {
    moderator.once('welcome', () => resolve());
    moderator.once('connect_error', reject);
  });
  const reply = (await moderator
    .timeout(WAIT_MS)
    .emitWithAck('camera:remove', { cameraId })) as Reply<null>;
  assert.deepEqual(reply, { ok: true, data: null });

  /** The page has stopped for good: the removal message, no Rejoin, the camera off. */
  const removedShown = async (): Promise<void> => {
    await page.waitForFunction(
      (text) => document.querySelector('#publish-state')?.textContent === text,
      removedMessage,
      { timeout: WAIT_MS },
    );
    assert.equal(
      await page.getByRole('button', { name: 'Rejoin' }).isVisible(),
      false,
      'no Rejoin button',
    );
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'ended');
  };
  await removedShown();
  assert.equal(
    await page.evaluate(() => document.querySelector<HTMLVideoElement>('video')?.srcObject ?? null),
    null,
    'the camera is off',
  );
  await waitUntil(() => !cameraIds().includes(cameraId));
  const cameraCount = cameraIds().length;

  // Reloaded: the page remembers the removal for this link and does not connect at all.
  await page.reload();
  await removedShown();
  assert.equal(cameraIds().length, cameraCount, 'not back in presence');

  // Even if the page forgot (storage cleared), the server refuses its camera key.
  await page.evaluate(
    (assembly) => sessionStorage.removeItem(`montage.removed.${assembly}`),
    assemblyId,
  );
  await page.reload();
  await page.waitForFunction(
    (text) => document.querySelector('#publish-state')?.textContent === text,
    removedMessage,
    { timeout: WAIT_MS },
  );
  assert.equal(await page.getByRole('button', { name: 'Rejoin' }).isVisible(), false);
  assert.equal(await page.locator('#status').getAttribute('data-state'), 'refused');
  assert.equal(cameraIds().length, cameraCount, 'not back in presence');
  assert.ok(!cameraIds().includes(cameraId));
});

test('the panel lists every invite with role, label and expiry, revokes one, and shows a link’s QR code', async (t) => {
  const own = parseAssemblyId((await createAssembly(running, 'Invites assembly')).id);
  const invites = running.app.core.invites;
  const room12 = invites.mint('test', own, 'camera', 3 * 24 * 3600, 'Room 12').invite;
  invites.mint('test', own, 'viewer', -60);
  const revoked = invites.mint('test', own, 'presenter', 600, 'Ms Lee').invite;
  invites.revoke('test', own, revoked.id);
  const panelInvite = invites.mint('test', own, 'moderator', 2 * 3600);
  const page = await open(t, panelInvite.invite.url);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  // Every confirm() (revoke, remove) is accepted, as a moderator who meant it.
  page.on('dialog', (dialog) => void dialog.accept());

  const row = (inviteId: string) => page.locator(`#invite-list li[data-invite="${inviteId}"]`);
  await row(room12.id).waitFor({ timeout: WAIT_MS });
  assert.equal(await page.locator('#invite-list li').count(), 5, 'every invite, even dead ones');
  const text = async (inviteId: string): Promise<string> =>
    (await row(inviteId).textContent()) ?? '';
  assert.match(await text(room12.id), /^camera\s*Room 12\s*expires in 3 days/);
  assert.match(await text(revoked.id), /^presenter\s*Ms Lee\s*revoked/);
  assert.equal(await page.locator('#invite-list li[data-state="expired"]').count(), 1);
  assert.match(
    (await page.locator('#invite-list li[data-state="expired"]').textContent()) ?? '',
    /^viewer\s*expired/,
  );
  assert.match(await text(panelInvite.invite.id), /expires in 2 hours\s*this panel/);
  assert.equal(
    await row(revoked.id)
      .getByRole('button', { name: /Revoke/ })
      .count(),
    0,
    'a revoked link has no Revoke',
  );

  // A labelled camera link from the form: listed, and its label is in its token.
  await page.getByLabel('Link for a').selectOption('camera');
  await page.getByLabel('Label (room or person)').fill('  Room 14 ');
  await page.getByRole('button', { name: 'Create link' }).click();
  await page.locator('#invite-list li', { hasText: 'Room 14' }).waitFor({ timeout: WAIT_MS });
  const room14 = invites.list(own).find((invite) => invite.label === 'Room 14');
  assert.ok(room14 !== undefined, 'stored with its label, trimmed');
  assert.equal(
    running.app.core.tokens.verify(new URL(room14.url).searchParams.get('token') ?? '').label,
    'Room 14',
  );
  assert.equal(await page.getByLabel('Label (room or person)').inputValue(), '');

  // The QR code of a link, drawn for a classroom device, with the link under it.
  await row(room12.id).getByRole('button', { name: 'QR code of camera link “Room 12”' }).click();
  const dialog = page.locator('#qr-dialog');
  await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.locator('#qr-link').textContent(), room12.url);
  assert.equal(await page.locator('#qr-title').textContent(), 'Camera link “Room 12”');
  const drawn = await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#qr-code');
    const context = canvas?.getContext('2d');
    if (canvas === null || canvas === undefined || context === null || context === undefined) {
      return { width: 0, dark: 0, light: 0 };
    }
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let dark = 0;
    let light = 0;
    for (let i = 0; i < data.length; i += 4) {
      if ((data[i] ?? 0) < 64) dark += 1;
      else if ((data[i] ?? 0) > 192) light += 1;
    }
    return { width: canvas.width, dark, light };
  });
  assert.ok(drawn.width >= 300, `a canvas of ${drawn.width} px`);
  const share = drawn.dark / (drawn.dark + drawn.light);
  // A QR code is roughly half dark modules, half light (with its quiet zone, a bit less dark).
  assert.ok(share > 0.25 && share < 0.65, `dark share ${share.toFixed(2)}`);
  if (process.env.SCREENSHOTS !== undefined) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'invite-qr.png') });
  }
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: WAIT_MS });

  // Revoke from the list: the row says so, and the link no longer opens its page.
  await row(room12.id).getByRole('button', { name: 'Revoke camera link “Room 12”' }).click();
  await page.locator(`#invite-list li[data-invite="${room12.id}"][data-state="revoked"]`).waitFor({
    timeout: WAIT_MS,
  });
  assert.notEqual(invites.list(own).find((invite) => invite.id === room12.id)?.revokedAt, null);
  assert.equal((await fetch(room12.url)).status, 401);
  if (process.env.SCREENSHOTS !== undefined) {
    await page.locator('#invites').screenshot({
      path: path.join(process.env.SCREENSHOTS, 'invites.png'),
    });
  }
});

test('after removing a camera, the panel offers to revoke its link too', async (t) => {
  const own = parseAssemblyId((await createAssembly(running, 'Kick assembly')).id);
  const invites = running.app.core.invites;
  const panel = await open(t, invites.mint('test', own, 'moderator', 600).invite.url);
  await panel.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  panel.on('dialog', (dialog) => void dialog.accept());
  const cameraInvite = invites.mint('test', own, 'camera', 600, 'Room 20').invite;
  const camera = await open(t, cameraInvite.url);
  await camera.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });

  const remove = panel.locator('#camera-list').getByRole('button', { name: /^Remove / });
  await remove.waitFor({ timeout: WAIT_MS });
  await remove.click();
  const notice = panel.locator('#removal-notice');
  await notice.getByRole('button', { name: 'Also revoke its link' }).waitFor({ timeout: WAIT_MS });
  await camera.waitForFunction(
    () =>
      document.querySelector('#publish-state')?.textContent ===
      'The moderator removed this camera from the assembly.',
    undefined,
    { timeout: WAIT_MS },
  );
  if (process.env.SCREENSHOTS !== undefined) {
    await panel.locator('#cameras').screenshot({
      path: path.join(process.env.SCREENSHOTS, 'camera-removed-panel.png'),
    });
    await camera.screenshot({ path: path.join(process.env.SCREENSHOTS, 'camera-removed.png') });
  }
  await notice.getByRole('button', { name: 'Also revoke its link' }).click();
  await notice.getByText(/link was revoked too/).waitFor({ timeout: WAIT_MS });
  assert.notEqual(invites.list(own).find((i) => i.id === cameraInvite.id)?.revokedAt, null);
  await panel
    .locator(`#invite-list li[data-invite="${cameraInvite.id}"][data-state="revoked"]`)
    .waitFor({ timeout: WAIT_MS });
  // A new tab with the link is refused now.
  assert.equal((await fetch(cameraInvite.url)).status, 401);
});

test('a camera page whose link is revoked says so at once, offers no Rejoin and stays out', async (t) => {
  const revokedMessage = 'This link was revoked; ask your teacher for a new one.';
  const { invite } = running.app.core.invites.mint('test', assemblyId, 'camera', 600, 'Room 30');
  const page = await open(t, invite.url);
  await connected(page);
  const live = (): boolean =>
    running.app.live.find(assemblyId)?.participants.some((p) => p.inviteId === invite.id) ?? false;
  await waitUntil(live);

  running.app.core.invites.revoke('test', assemblyId, invite.id);
  await page.waitForFunction(
    (text) => document.querySelector('#publish-state')?.textContent === text,
    revokedMessage,
    { timeout: WAIT_MS },
  );
  assert.equal(await page.getByRole('button', { name: 'Rejoin' }).isVisible(), false);
  assert.equal(await page.locator('#status').getAttribute('data-state'), 'ended');
  await waitUntil(() => !live());
  // A reload is refused by the server in the same plain words.
  const response = await page.reload();
  assert.equal(response?.status(), 401);
  assert.ok(await page.getByRole('heading', { name: 'This link was turned off' }).isVisible());
  assert.equal(live(), false);
});

test("the panel's library shows each clip's length and first frame, previews it and deletes it", async (t) => {
  // A real 3 s red clip, uploaded as the panel's upload does.
  const clip = path.join(tmpdir(), `montage-red-${process.pid}.webm`);
  await promisify(execFile)('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'color=c=red:size=320x180:rate=15:duration=3'],
    ...['-c:v', 'libvpx', '-b:v', '200k', '-y', clip],
  ]);
  const moderator = running.app.core.invites.mint('test', assemblyId, 'moderator', 600).token;
  const uploaded = await fetch(`${running.url}/api/assemblies/${assemblyId}/library`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${moderator}`,
      'content-type': 'video/webm',
      'x-filename': 'Red clip.webm',
    },
    body: readFileSync(clip),
  });
  assert.equal(uploaded.status, 201);

  const page = await open(t, link('moderator'));
  await connected(page);
  const row = page.locator('#library-list li[data-video="Red clip.webm"]');
  await row.waitFor({ timeout: WAIT_MS });
  await row.locator('.clip-duration').getByText('0:03').waitFor({ timeout: WAIT_MS });
  const poster = await row.locator('img.clip-thumb').getAttribute('src');
  assert.match(poster ?? '', /^data:image\/jpeg;base64,/, 'the first frame is shown');

  await row.getByRole('button', { name: 'Preview' }).click();
  if (process.env.SCREENSHOTS !== undefined) {
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.locator('#library').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'panel-library.png') });
  }
  await page.waitForFunction(
    () => {
      const video = document.querySelector<HTMLVideoElement>('#library-player');
      return video !== null && video.readyState >= 2 && video.videoWidth > 0;
    },
    undefined,
    { timeout: WAIT_MS },
  );
  const [seen] = await sampleVideo(page, '#library-player', [[0.5, 0.5]]);
  assert.equal(seen === undefined ? 'none' : classify(seen), 'red', 'the preview plays the clip');

  page.once('dialog', (dialog) => void dialog.accept());
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.equal(
    existsSync(path.join(running.app.library.folder(assemblyId), 'Red clip.webm')),
    false,
  );
  const entry = running.app.core.audit.recent(10).find((e) => e.action === 'library.delete');
  assert.deepEqual(entry?.details, { name: 'Red clip.webm' });
  // Deleting it again, or a name that is no video, is refused with the reason.
  const again = await fetch(`${running.url}/api/assemblies/${assemblyId}/library/Red%20clip.webm`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${moderator}` },
  });
  assert.equal(again.status, 404);
  const bad = await fetch(`${running.url}/api/assemblies/${assemblyId}/library/notes.txt`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${moderator}` },
  });
  assert.equal(bad.status, 400);
  assert.match(
    ((await bad.json()) as { error: { message: string } }).error.message,
    /must end with/,
  );
});
