/**
 * The operator page in real Chromium against the real app server and a real nginx-rtmp edge:
 * the operator adds the edge through the form, sees it probed healthy with its load, drains it
 * (after confirming), activates it, removes it (after confirming), and reads each change in the
 * recent audit entries; a bad URL is refused with the server's words, and only operators may
 * open the page.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { NginxEdge } from '../../server/edges/NginxEdge.js';
import { launchChromium } from '../helpers/browser.js';
import { createAssembly, setup, type RunningApp } from '../server/appHelpers.js';
import { newEdge } from './fleetHelpers.js';

const WAIT_MS = 15_000;

let dir: string;
let running: RunningApp;
let browser: Browser;
let edge: NginxEdge;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'montage-operator-page-'));
  running = await setup();
  edge = await newEdge(dir, 'vm');
  await edge.start();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await running?.teardown();
  await edge?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(
  t: { after: (fn: () => Promise<void>) => void },
  url: string,
  viewport = { width: 1366, height: 768 },
): Promise<Page> {
  const context = await browser.newContext({ viewport });
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

test('an operator adds, drains, activates and removes an edge on the page', async (t) => {
  const page = await open(t, `${running.url}/operator?token=${running.operatorToken}`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  assert.equal(await page.locator('h1').textContent(), 'Edge fleet');
  assert.match((await page.locator('#fleet-summary').textContent()) ?? '', /^No edge yet/);

  // A URL the server refuses: its message is shown, nothing is added.
  await page.getByLabel('Public URL').fill('ftp://vm.example');
  await page.getByLabel('Ingest URL').fill(edge.ingestUrl);
  await page.getByRole('button', { name: 'Add edge' }).click();
  const formNotice = page.locator('#add-edge .notice');
  await formNotice
    .filter({ hasText: 'publicUrl must be an http:// or https:// base URL' })
    .waitFor({
      timeout: WAIT_MS,
    });
  assert.equal(await formNotice.getAttribute('data-tone'), 'bad');

  await page.getByLabel('Public URL').fill(edge.httpUrl);
  await page.getByLabel('Name (optional)').fill('vm1');
  await page.getByRole('button', { name: 'Add edge' }).click();
  await formNotice.filter({ hasText: 'Edge vm1 added' }).waitFor({ timeout: WAIT_MS });
  assert.equal(await page.getByLabel('Public URL').inputValue(), '', 'the form is cleared');
  const row = page.locator('tr[data-edge="vm1"]');
  await row.waitFor({ timeout: WAIT_MS });
  // The background probes reach the page through its two-second refresh.
  await row.locator('td[data-label="Health"] .pill.ok').waitFor({ timeout: WAIT_MS });
  assert.equal(await row.locator('td[data-label="Viewers"]').innerText(), '0');
  assert.match(await row.locator('td[data-label="Bandwidth"]').innerText(), /bit\/s/);
  assert.equal(running.app.edges.get('vm1').publicUrl, edge.httpUrl);

  // Draining asks first; cancelling changes nothing.
  await row.getByRole('button', { name: 'Drain vm1' }).click();
  await row.getByRole('button', { name: 'Cancel vm1' }).click();
  assert.equal(running.app.edges.get('vm1').state, 'active');
  await row.getByRole('button', { name: 'Drain vm1' }).click();
  assert.match(await row.getByRole('group').innerText(), /Drain vm1\? New viewers go elsewhere/);
  await row.getByRole('button', { name: 'Yes, drain vm1' }).click();
  await row
    .locator('td[data-label="State"]', { hasText: 'draining' })
    .waitFor({ timeout: WAIT_MS });
  assert.equal(running.app.edges.get('vm1').state, 'draining');
  await row.getByRole('button', { name: 'Activate vm1' }).click();
  await row.locator('td[data-label="State"]', { hasText: 'active' }).waitFor({ timeout: WAIT_MS });
  assert.equal(running.app.edges.get('vm1').state, 'active');

  await row.getByRole('button', { name: 'Remove vm1' }).click();
  assert.match(await row.getByRole('group').innerText(), /Remove vm1\? The origin stops pushing/);
  await row.getByRole('button', { name: 'Yes, remove vm1' }).click();
  await row.waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.equal(running.app.edges.find('vm1'), undefined);

  const audit = page.locator('#audit-list li');
  await page.locator('#audit-list li[data-action="edge.remove"]').waitFor({ timeout: WAIT_MS });
  const actions = await audit.evaluateAll((items) =>
    items.map((item) => item.getAttribute('data-action')),
  );
  assert.deepEqual(actions.slice(0, 4), ['edge.remove', 'edge.activate', 'edge.drain', 'edge.add']);
  assert.match(await audit.first().innerText(), /edge vm1 by operator/);
});

test('on a phone each edge is a card whose cells name their column', async (t) => {
  running.app.edges.add('operator', {
    id: 'vm2',
    publicUrl: edge.httpUrl,
    ingestUrl: edge.ingestUrl,
  });
  t.after(() => {
    running.app.edges.remove('operator', 'vm2');
    return Promise.resolve();
  });
  const page = await open(t, `${running.url}/operator?token=${running.operatorToken}`, {
    width: 390,
    height: 844,
  });
  const row = page.locator('tr[data-edge="vm2"]');
  await row.locator('td[data-label="Health"] .pill.ok').waitFor({ timeout: WAIT_MS });
  const layout = await row.evaluate((element: HTMLTableRowElement) => {
    const first = element.querySelector('td') ?? element;
    return {
      rowWidth: element.getBoundingClientRect().width,
      cellDisplay: getComputedStyle(first).display,
      label: getComputedStyle(first, '::before').content,
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    };
  });
  assert.equal(layout.cellDisplay, 'grid');
  assert.equal(layout.label, '"Edge"');
  assert.ok(layout.rowWidth <= 390, `row ${layout.rowWidth} px wide`);
  assert.equal(layout.overflow, 0, 'nothing scrolls sideways');
});

test('only an operator token opens the page', async () => {
  const assembly = await createAssembly(running, 'Not for operators');
  const refused = await fetch(`${running.url}/operator?token=${assembly.moderatorToken}`);
  assert.equal(refused.status, 403);
  assert.match(
    await refused.text(),
    /a moderator token cannot open the operator page; this needs an operator token/,
  );
  const missing = await fetch(`${running.url}/operator`);
  assert.equal(missing.status, 401);
  assert.equal(refused.headers.get('cache-control'), 'no-store');
});
