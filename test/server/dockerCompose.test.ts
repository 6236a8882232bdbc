/**
 * kms/docker-compose.yml, the production deployment with a real Kurento Media Server, checked
 * without a Docker engine: `docker-compose config` (the Debian package, installed by
 * .ci/bootstrap.sh) interpolates the file with a sample env file and prints the result, which is
 * what `docker-compose up` would run. The edge's entry script runs for real against
 * nginx/edge.conf.template and nginx -t.
 *
 * A missing docker-compose fails these tests instead of skipping them: a skipped check would
 * let a broken deployment file through.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadAppConfig } from '../../server/config.js';
import { REPO_ROOT } from '../helpers/engineProcess.js';

const COMPOSE_FILE = path.join(REPO_ROOT, 'kms/docker-compose.yml');
const DOCKERFILE = path.join(REPO_ROOT, 'kms/docker/Dockerfile');
const ENTRYPOINT = path.join(REPO_ROOT, 'kms/docker/entrypoint.sh');
/** Where the image keeps the repository (WORKDIR in the Dockerfile). */
const IMAGE_ROOT = '/app';

/** The settings the compose file requires, with sample values. */
const REQUIRED = {
  MONTAGE_PUBLIC_URL: 'https://assembly.school.example',
  // Another name than the app's, so that the test sees which one viewers are handed.
  MONTAGE_EDGE_PUBLIC_URL: 'https://hls.school.example',
  MONTAGE_JWT_SECRET: 'compose-test-jwt-secret-0123456789abcdef',
  MONTAGE_EDGE_SECRET: 'compose-test-edge-secret-0123',
} as const;

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command with exactly `env` (plus a PATH that finds node, nginx and docker-compose), so
 * that neither the caller's shell nor a developer's kms/.env changes what is checked.
 */
async function runCommand(
  command: string,
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<CommandResult> {
  const searchPath = [path.dirname(process.execPath), process.env.PATH ?? '', '/usr/sbin', '/sbin']
    .filter((entry) => entry !== '')
    .join(':');
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: searchPath, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(`${command} is not installed; .ci/bootstrap.sh installs it with apt-get`)
          : error,
      );
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A service as `docker-compose config` prints it (1.29 short syntax or Compose v2 long syntax). */
interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string[];
  network_mode?: string;
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: (string | { host_ip?: string; published?: string | number; target?: number })[];
  volumes?: (string | { source?: string; target?: string; read_only?: boolean })[];
  healthcheck?: { test?: string[] };
}

interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return {
        source: volume.source ?? '',
        target: volume.target ?? '',
        readOnly: volume.read_only === true,
      };
    }
    const [source = '', target = '', mode = 'rw'] = volume.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

function mountAt(service: ComposeService, target: string): Mount {
  const mount = mounts(service).find((candidate) => candidate.target === target);
  assert.ok(mount, `a volume mounted at ${target}`);
  return mount;
}

function service(config: ComposeConfig, name: string): ComposeService {
  const found = config.services[name];
  assert.ok(found, `service ${name} in kms/docker-compose.yml`);
  return found;
}

function environment(found: ComposeService): Record<string, string> {
  assert.ok(found.environment, 'the service has an environment');
  return found.environment;
}

/** `docker-compose config` with `vars` as the env file; the printed YAML as an object. */
async function composeConfig(
  vars: Record<string, string>,
): Promise<CommandResult & { config?: ComposeConfig }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'montage-compose-'));
  try {
    const envFile = path.join(dir, 'compose.env');
    const lines = Object.entries(vars).map(([key, value]) => `${key}=${value}\n`);
    await writeFile(envFile, lines.join(''));
    const result = await runCommand(
      'docker-compose',
      ['--env-file', envFile, '-f', COMPOSE_FILE, 'config'],
      { HOME: dir },
    );
    if (result.code !== 0) return result;
    // PyYAML is a dependency of the docker-compose package, so it is there whenever
    // docker-compose is; no YAML parser is needed in package.json for one test.
    const converted = await runCommand(
      'python3',
      ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
      {},
      result.stdout,
    );
    assert.equal(converted.code, 0, converted.stderr);
    const parsed: unknown = JSON.parse(converted.stdout);
    assert.ok(
      typeof parsed === 'object' && parsed !== null && 'services' in parsed,
      'docker-compose config printed services',
    );
    return { ...result, config: parsed as ComposeConfig };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let defaultConfig: Promise<ComposeConfig> | undefined;

/** The configuration with only the required settings; computed once (it takes a second). */
function sampleConfig(): Promise<ComposeConfig> {
  defaultConfig ??= validConfig({});
  return defaultConfig;
}

async function validConfig(vars: Record<string, string>): Promise<ComposeConfig> {
  const result = await composeConfig({ ...REQUIRED, ...vars });
  assert.equal(result.code, 0, result.stderr);
  // Every variable has a default or is required: compose warns about the others.
  assert.doesNotMatch(result.stderr, /WARN|not set/i);
  assert.ok(result.config);
  return result.config;
}

/** The app server's settings as the container would load them (no .env in the image). */
function appConfigOf(config: ComposeConfig): ReturnType<typeof loadAppConfig> {
  return loadAppConfig({
    env: environment(service(config, 'app')),
    envFile: null,
    baseDir: IMAGE_ROOT,
  });
}

interface KurentoWebSocket {
  address: string;
  port: number;
  path: string;
}

/** The WebSocket settings of the kurento.conf.json that the kurento service mounts. */
async function kurentoWebSocket(config: ComposeConfig): Promise<KurentoWebSocket> {
  const mount = mountAt(service(config, 'kurento'), '/etc/kurento/kurento.conf.json');
  assert.equal(mount.source, path.join(REPO_ROOT, 'kms/docker/kurento.conf.json'));
  assert.equal(mount.readOnly, true);
  const parsed = JSON.parse(await readFile(mount.source, 'utf8')) as {
    mediaServer?: { net?: { websocket?: Partial<KurentoWebSocket> } };
  };
  const websocket = parsed.mediaServer?.net?.websocket;
  assert.ok(websocket, 'mediaServer.net.websocket in kurento.conf.json');
  const { address, port, path: wsPath } = websocket;
  assert.ok(typeof address === 'string' && typeof port === 'number' && typeof wsPath === 'string');
  return { address, port, path: wsPath };
}

test('the compose file runs Kurento 7.x and the app server drives it over loopback instead of the embedded engine', async () => {
  const config = await sampleConfig();
  assert.deepEqual(Object.keys(config.services).sort(), ['app', 'edge', 'kurento']);

  const kurento = service(config, 'kurento');
  assert.match(kurento.image ?? '', /^kurento\/kurento-media-server:7\.\d+\.\d+$/);
  // Host networking for both: Kurento's media ports, and the program RTP that Kurento sends to
  // the app's ffmpeg bridge on 127.0.0.1.
  assert.equal(kurento.network_mode, 'host');
  const app = service(config, 'app');
  assert.equal(app.network_mode, 'host');

  const websocket = await kurentoWebSocket(config);
  const kmsUri = environment(app).KMS_URI;
  assert.equal(kmsUri, `ws://${websocket.address}:${websocket.port}/${websocket.path}`);
  // main.ts starts the embedded engine only when KMS_URI is empty; the whole environment must
  // also pass the app server's own validation (an unknown MONTAGE_ key would stop it).
  const appConfig = appConfigOf(config);
  assert.equal(appConfig.kmsUri, kmsUri);
  assert.equal(appConfig.publicBaseUrl, REQUIRED.MONTAGE_PUBLIC_URL);
  assert.equal(appConfig.jwtSecret, REQUIRED.MONTAGE_JWT_SECRET);
  assert.equal(appConfig.edgeSecret, REQUIRED.MONTAGE_EDGE_SECRET);
  assert.deepEqual(app.command, ['app']);
});

test('the edge service is the edge: the app runs none, pushes to its RTMP port and hands out its public URL', async () => {
  const config = await sampleConfig();
  const edge = service(config, 'edge');
  assert.equal(edge.profiles, undefined, 'the edge starts with the rest');
  assert.equal(edge.network_mode, 'host');
  const appConfig = appConfigOf(config);
  assert.equal(appConfig.localEdge, false);
  assert.deepEqual(appConfig.edges, [
    {
      id: 'edge',
      publicUrl: REQUIRED.MONTAGE_EDGE_PUBLIC_URL,
      ingestUrl: 'rtmp://127.0.0.1:1936/live',
      statusUrl: 'http://127.0.0.1:8090',
    },
  ]);
  assertEdgeMatchesApp(config);
  // Both share the host's network, so the edge's RTMP port must not be the origin's.
  assert.notEqual(environment(edge).EDGE_RTMP_PORT, String(appConfig.rtmpPort));

  // The app follows the edge's ports when they change, and the public URL may carry a path.
  const moved = await validConfig({
    EDGE_HTTP_PORT: '18090',
    EDGE_RTMP_PORT: '11936',
    MONTAGE_EDGE_PUBLIC_URL: 'https://assembly.school.example/live-hls/',
  });
  assertEdgeMatchesApp(moved);
  assert.deepEqual(appConfigOf(moved).edges, [
    {
      id: 'edge',
      publicUrl: 'https://assembly.school.example/live-hls',
      ingestUrl: 'rtmp://127.0.0.1:11936/live',
      statusUrl: 'http://127.0.0.1:18090',
    },
  ]);
});

/**
 * The app's only edge is the edge service: the origin pushes where the edge listens for RTMP,
 * from an address it allows, and probes where it serves HTTP.
 */
function assertEdgeMatchesApp(config: ComposeConfig): void {
  const edge = environment(service(config, 'edge'));
  const [listed] = appConfigOf(config).edges;
  assert.ok(listed, 'the app lists the edge in MONTAGE_EDGES');
  const ingest = new URL(listed.ingestUrl);
  assert.equal(ingest.hostname, edge.EDGE_RTMP_HOST);
  assert.equal(ingest.port, edge.EDGE_RTMP_PORT);
  assert.equal(ingest.pathname, '/live', 'the application of nginx/edge.conf.template');
  assert.equal(edge.EDGE_ORIGIN_ALLOW, '127.0.0.1', 'the origin pushes over loopback');
  const status = new URL(listed.statusUrl);
  assert.equal(status.hostname, '127.0.0.1');
  assert.ok(['127.0.0.1', '0.0.0.0'].includes(edge.EDGE_HTTP_HOST ?? ''), 'loopback reaches it');
  assert.equal(status.port, edge.EDGE_HTTP_PORT);
}

test('every listener is on 127.0.0.1 unless configured, and Docker publishes no port', async () => {
  const config = await sampleConfig();
  for (const [name, found] of Object.entries(config.services)) {
    for (const port of found.ports ?? []) {
      const hostIp = typeof port === 'string' ? port.split(':')[0] : port.host_ip;
      assert.equal(hostIp, '127.0.0.1', `${name} publishes ${JSON.stringify(port)}`);
    }
  }
  assert.equal((await kurentoWebSocket(config)).address, '127.0.0.1');
  const appConfig = appConfigOf(config);
  assert.equal(appConfig.httpHost, '127.0.0.1');
  assert.equal(appConfig.rtmpHost, '127.0.0.1');
  const edge = environment(service(config, 'edge'));
  assert.equal(edge.EDGE_HTTP_HOST, '127.0.0.1');
  assert.equal(edge.EDGE_RTMP_HOST, '127.0.0.1');
  assert.equal(edge.EDGE_ORIGIN_ALLOW, '127.0.0.1');

  const configured = await validConfig({
    MONTAGE_HTTP_HOST: '0.0.0.0',
    EDGE_HTTP_HOST: '0.0.0.0',
    // The edge's ingest stays on loopback whatever the env file says: the origin is local.
    EDGE_RTMP_HOST: '0.0.0.0',
    EDGE_ORIGIN_ALLOW: '10.0.0.5',
  });
  assert.equal(appConfigOf(configured).httpHost, '0.0.0.0');
  assert.equal(environment(service(configured, 'edge')).EDGE_HTTP_HOST, '0.0.0.0');
  assert.equal(environment(service(configured, 'edge')).EDGE_RTMP_HOST, '127.0.0.1');
  assert.equal(environment(service(configured, 'edge')).EDGE_ORIGIN_ALLOW, '127.0.0.1');
  assertEdgeMatchesApp(configured);
});

test('Kurento writes recordings and reads the media library where the app server expects them, as its user', async () => {
  const config = await sampleConfig();
  const app = service(config, 'app');
  const kurento = service(config, 'kurento');
  const appConfig = appConfigOf(config);

  // Recorder and player URIs are file:// paths that the app builds and Kurento opens, so both
  // containers must see the same volume at the same path.
  const recordings = mountAt(app, appConfig.recordingsDir);
  const kurentoRecordings = mountAt(kurento, appConfig.recordingsDir);
  assert.equal(kurentoRecordings.source, recordings.source);
  assert.equal(kurentoRecordings.readOnly, false);
  const media = mountAt(app, appConfig.mediaDir);
  assert.equal(media.readOnly, false, 'uploads go into the media library');
  assert.equal(mountAt(kurento, appConfig.mediaDir).source, media.source);

  // SQLite, and the edge's folder with its HLS files, persist in volumes of their own; the HLS
  // volume belongs to the edge alone (the app runs no nginx).
  assert.equal(path.dirname(appConfig.databasePath), appConfig.dataDir);
  const hls = mountAt(service(config, 'edge'), '/var/lib/montage-edge');
  assert.equal(hls.readOnly, false);
  for (const mount of [...mounts(app), ...mounts(kurento)]) {
    assert.notEqual(mount.source, hls.source, `${mount.target} is the edge's HLS volume`);
  }
  const persistent = [mountAt(app, appConfig.dataDir), recordings, media, hls];
  for (const mount of persistent) {
    assert.ok(
      config.volumes && mount.source in config.volumes,
      `${mount.source} is a named volume`,
    );
  }
  assert.equal(new Set(persistent.map((mount) => mount.source)).size, persistent.length);

  // Kurento writes recordings with the uid the image gives the app server.
  const useradd = /useradd [^\n]*--uid (\d+)/.exec(await readFile(DOCKERFILE, 'utf8'));
  assert.ok(useradd, 'the Dockerfile creates the app user with a fixed uid');
  assert.equal(environment(kurento).KMS_UID, useradd[1]);
});

test('a missing secret or public URL (of the app or of the edge) stops docker-compose with a message that names it', async () => {
  for (const key of Object.keys(REQUIRED) as (keyof typeof REQUIRED)[]) {
    const vars: Record<string, string> = { ...REQUIRED };
    delete vars[key];
    const result = await composeConfig(vars);
    assert.notEqual(result.code, 0, `docker-compose config without ${key}`);
    assert.match(result.stderr, new RegExp(`set ${key} to `));
    assert.equal(result.stdout, '');
  }
});

test('the edge service renders nginx/edge.conf.template into a config that nginx -t accepts', async (t) => {
  const config = await sampleConfig();
  const edge = service(config, 'edge');
  assert.deepEqual(edge.command, ['edge']);
  assert.equal(edge.image, service(config, 'app').image);
  const prefix = mountAt(edge, '/var/lib/montage-edge');
  assert.ok(config.volumes && prefix.source in config.volumes);

  const dir = await mkdtemp(path.join(tmpdir(), 'montage-compose-edge-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const result = await runCommand('bash', [ENTRYPOINT, 'edge-check'], {
    ...environment(edge),
    EDGE_PREFIX: dir,
    // As root the edge's workers run as www-data, as in the container; otherwise nginx must
    // not be given a `user` directive it cannot honour.
    ...(process.getuid?.() === 0 ? {} : { EDGE_USER: '' }),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /nginx\.conf is valid/);

  const file = path.join(dir, 'nginx.conf');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'the config holds the edge secret');
  const rendered = await readFile(file, 'utf8');
  // The ports the app's MONTAGE_EDGES pushes to and probes.
  const [listed] = appConfigOf(config).edges;
  assert.ok(listed);
  // The HTTP listen carries parameters (its accept queue).
  assert.ok(rendered.includes(`listen ${new URL(listed.statusUrl).host} `));
  assert.ok(rendered.includes(`listen ${new URL(listed.ingestUrl).host};`));
  assert.match(rendered, /listen 127\.0\.0\.1:1936;/);
  assert.match(rendered, /allow publish 127\.0\.0\.1;/);
  assert.match(rendered, /hls_fragment 900ms;/);
  assert.match(rendered, /hls_playlist_length 8h;/);
  assert.ok(rendered.includes(`$arg_secret = "${REQUIRED.MONTAGE_EDGE_SECRET}"`));
  assert.doesNotMatch(rendered, /\{\{/);
});

test('the image can be built from what the repository holds and refuses to run without KMS_URI', async () => {
  // Every COPY from the build context names a path that exists (a rename breaks the image
  // build long before anyone runs it), and the entry point keeps its executable bit.
  const dockerfile = await readFile(DOCKERFILE, 'utf8');
  const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((match) =>
    (match[1] ?? '').trim().split(/\s+/).slice(0, -1),
  );
  assert.ok(copies.length > 0);
  for (const source of copies) await access(path.join(REPO_ROOT, source));
  await access(ENTRYPOINT, constants.X_OK);
  const config = await sampleConfig();
  for (const name of ['app', 'edge']) {
    assert.deepEqual(service(config, name).build, {
      context: REPO_ROOT,
      dockerfile: path.relative(REPO_ROOT, DOCKERFILE),
    });
  }
  assert.deepEqual(service(config, 'app').healthcheck?.test?.slice(1), [
    `${IMAGE_ROOT}/kms/docker/entrypoint.sh`,
    'app-health',
  ]);

  // Without KMS_URI main.js would start an engine the image does not contain.
  const result = await runCommand('bash', [ENTRYPOINT, 'app'], {});
  assert.equal(result.code, 1);
  assert.match(result.stderr, /KMS_URI is not set/);
});
