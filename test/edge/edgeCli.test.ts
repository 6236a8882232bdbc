/**
 * An edge VM joins with one command: the README's one-liner (`cli.js render ... --start &&
 * cli.js register ...`) run in a shell against a real app server with its origin, after which
 * the origin pushes the live program to the new nginx-rtmp edge and the registry probes it
 * healthy. `register` fails clearly when the app server cannot be reached, refuses the token
 * or refuses the edge.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery, type Delivery } from '../../server/delivery.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { Logger } from '../../server/log.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import { freePort, REPO_ROOT } from '../helpers/engineProcess.js';
import { HlsSigner } from '../../server/hls/HlsSigner.js';
import { request } from '../server/appHelpers.js';
import { waitFor } from './fleetHelpers.js';
import { EDGE_SECRET, fragments, publishQuadrants, type TestProcess } from './helpers.js';

const run = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'dist/server/edges/cli.js');

let dir: string;
let app: App;
let delivery: Delivery;
let publisher: TestProcess | undefined;
let operatorLink: string;
let operatorToken: string;
const vms: NginxEdge[] = [];

/** Runs `cli.js register` with `args`; resolves with its exit code and output. */
async function register(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'register', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'montage-edge-cli-'));
  const config = loadAppConfig({
    env: {
      MONTAGE_DATA_DIR: dir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_SECRET: EDGE_SECRET,
      MONTAGE_LOCAL_EDGE: 'false',
    },
    envFile: null,
  });
  app = new App(config, { logger: new Logger('silent'), media: false });
  await app.start();
  delivery = await startDelivery(app, deliveryOptions(config));
  const operator = app.core.invites.mintOperator('test', 3600);
  operatorLink = operator.url;
  operatorToken = operator.token;
});

after(async () => {
  await publisher?.stop();
  await app.stop();
  await delivery.stop();
  for (const vm of vms) await vm.stop();
  await rm(dir, { recursive: true, force: true });
});

test("the README's one command renders and starts an edge and registers it: the origin pushes the live program to it", async () => {
  const created = await request(`${app.url}/api/assemblies`, 'POST', operatorToken, {
    name: 'One command',
    live: true,
  });
  assert.equal(created.status, 201);
  const assemblyId = parseAssemblyId((created.body as { assembly: { id: string } }).assembly.id);
  const stream = streamName(assemblyId);
  delivery.origin.allowStream(stream, 'edge-cli-stream-key-0000001');
  publisher = publishQuadrants(delivery.origin.publishUrl(stream), [
    'red',
    'green',
    'blue',
    'yellow',
  ]);

  const out = path.join(dir, 'vm1');
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  // A test binds loopback; a VM would use the defaults (0.0.0.0) and its own host name.
  vms.push(new NginxEdge({ prefix: out, httpPort, rtmpPort, edgeSecret: EDGE_SECRET }));
  const host = '127.0.0.1';
  const script = [
    `node ${CLI} render --out ${out} --secret ${EDGE_SECRET} --origin-allow 127.0.0.1`,
    `--http-host ${host} --http-port ${httpPort} --rtmp-host ${host} --rtmp-port ${rtmpPort}`,
    `--public-host ${host} --user ${process.getuid?.() === 0 ? 'root' : "''"} --start`,
    `&& node ${CLI} register --app ${app.url} --token "$OPERATOR_LINK" --id vm1`,
    `--public-url http://${host}:${httpPort} --ingest-url rtmp://${host}:${rtmpPort}/live`,
  ].join(' ');
  const { stdout } = await run('sh', ['-c', script], {
    env: { ...process.env, OPERATOR_LINK: operatorLink },
  });
  assert.match(stdout, /^nginx started, pid \d+$/m);
  assert.match(
    stdout,
    new RegExp(
      `^registered edge vm1: viewers get http://127\\.0\\.0\\.1:${httpPort}/hls/\\.\\.\\.`,
      'm',
    ),
  );
  assert.equal(app.edges.get('vm1').createdBy, 'operator');
  // Signed with the secret the edge was rendered with (server/hls/HlsSigner.ts).
  const signed = new HlsSigner({ edgeSecret: EDGE_SECRET, ttlSeconds: 3600 });
  const playlistUrl = `http://${host}:${httpPort}${signed.path(assemblyId, 'index.m3u8')}`;
  await waitFor(
    'the new edge serves the live program',
    async () => {
      const response = await fetch(playlistUrl).catch(() => undefined);
      return response?.status === 200 && fragments(await response.text()).length > 0
        ? true
        : undefined;
    },
    20_000,
  );
  await waitFor(
    'the registry probes it healthy',
    () => (app.edges.get('vm1').status.healthy ? true : undefined),
    20_000,
  );
  const audit = app.core.audit.recent(1)[0];
  assert.deepEqual(
    [audit?.actor, audit?.action, audit?.details.edge],
    ['operator', 'edge.add', 'vm1'],
  );
});

test('register says clearly when the app is unreachable, the token refused or the edge refused', async () => {
  const edge = [
    '--id',
    'vm2',
    '--public-url',
    'http://10.0.0.32:8090',
    '--ingest-url',
    'rtmp://10.0.0.32:1935/live',
  ];
  const usage = await register(['--app', app.url, '--token', operatorToken]);
  assert.equal(usage.code, 2);
  assert.match(
    usage.stderr,
    /^register: missing --id, --public-url, --ingest-url\nusage: cli\.js register/,
  );

  const closed = await freePort();
  const unreachable = await register([
    '--app',
    `http://127.0.0.1:${closed}`,
    '--token',
    operatorToken,
    ...edge,
  ]);
  assert.equal(unreachable.code, 1);
  assert.equal(
    unreachable.stderr
      .trim()
      .split('\n')[0]
      ?.startsWith(
        `register: cannot reach the app server at http://127.0.0.1:${closed}: ECONNREFUSED`,
      ),
    true,
    unreachable.stderr,
  );

  const assembly = await request(`${app.url}/api/assemblies`, 'POST', operatorToken, { name: 'x' });
  const moderatorLink = (assembly.body as { moderatorInvite: { url: string } }).moderatorInvite.url;
  const refused = await register(['--app', app.url, '--token', moderatorLink, ...edge]);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr.trim(),
    'register: the app server refused the token: a moderator token cannot add edges; this ' +
      'needs an operator token. Use an operator token or link (on the app server: npm run ' +
      'token -- --role operator)',
  );
  const forged = await register([
    '--app',
    app.url,
    '--token',
    `${operatorToken.slice(0, -4)}AAAA`,
    ...edge,
  ]);
  assert.match(forged.stderr, /^register: the app server refused the token: the token is invalid/);

  const badUrl = await register([
    ...edge,
    '--app',
    app.url,
    '--token',
    operatorToken,
    '--ingest-url',
    'http://10.0.0.32/live',
  ]);
  assert.equal(badUrl.code, 1);
  assert.match(
    badUrl.stderr,
    /^register: the app server refused the edge: ingestUrl must be rtmp:\/\/HOST:PORT\/APP/,
  );

  const first = await register(['--app', app.url, '--token', operatorToken, ...edge]);
  assert.equal(first.code, 0, first.stderr);
  const twice = await register(['--app', app.url, '--token', operatorToken, ...edge]);
  assert.equal(twice.code, 1);
  assert.equal(
    twice.stderr.trim(),
    "register: the app server refused the edge: edge 'vm2' already has the id vm2; choose another id",
  );
  assert.equal(app.edges.list().filter((registered) => registered.id === 'vm2').length, 1);
});
