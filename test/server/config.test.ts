import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadAppConfig, redactedUri } from '../../server/config.js';

const base = { envFile: null, baseDir: '/srv/montage' } as const;

test('defaults bind loopback on 8080 and keep data under ./var', () => {
  const config = loadAppConfig({ ...base, env: {} });
  assert.equal(config.httpHost, '127.0.0.1');
  assert.equal(config.httpPort, 8080);
  assert.equal(config.dataDir, '/srv/montage/var');
  assert.equal(config.databasePath, '/srv/montage/var/montage.sqlite');
  assert.equal(config.rtmpPort, 1935);
  assert.equal(config.edgeHttpPort, 8090);
  assert.equal(config.mediaServerUri, 'ws://127.0.0.1:8888/kurento');
  assert.equal(config.kmsUri, undefined);
  // Each assembly has a library of its own unless the school shares one.
  assert.equal(config.libraryScope, 'assembly');
});

test('an unknown MONTAGE_ key is rejected with its name', () => {
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_HTTP_PROT: '80' } }),
    (error: unknown) =>
      error instanceof ConfigError && /unknown setting\(s\) MONTAGE_HTTP_PROT/.test(error.message),
  );
});

test('a bad port is refused with a message naming the key and the range', () => {
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_HTTP_PORT: '80a' } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === 'MONTAGE_HTTP_PORT=80a is invalid: expected an integer from 0 to 65535',
  );
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_RTMP_PORT: '70000' } }),
    /MONTAGE_RTMP_PORT=70000 is invalid/,
  );
});

test('KMS_ keys of the shared .env are accepted and KMS_URI selects the media server', () => {
  const config = loadAppConfig({
    ...base,
    env: {
      KMS_PORT: '9999',
      KMS_ICE_ADDRESSES: '127.0.0.1',
      KMS_URI: 'ws://10.0.0.5:8888/kurento',
    },
  });
  assert.equal(config.kmsUri, 'ws://10.0.0.5:8888/kurento');
  assert.equal(config.mediaServerUri, 'ws://10.0.0.5:8888/kurento');
  assert.equal(
    loadAppConfig({ ...base, env: { KMS_PORT: '9999' } }).mediaServerUri,
    'ws://127.0.0.1:9999/kurento',
  );
  // The embedded engine's shared secret goes where kurento-client sends it; logs hide it.
  const guarded = loadAppConfig({
    ...base,
    env: { KMS_PORT: '9999', KMS_AUTH_TOKEN: 'a-shared-secret-of-the-school' },
  }).mediaServerUri;
  assert.equal(guarded, 'ws://127.0.0.1:9999/kurento?token=a-shared-secret-of-the-school');
  assert.equal(redactedUri(guarded), 'ws://127.0.0.1:9999/kurento?token=***');
  assert.throws(
    () => loadAppConfig({ ...base, env: { KMS_URI: 'http://x' } }),
    /KMS_URI=http:\/\/x/,
  );
});

test('the environment overrides .env, which overrides the defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'montage-config-'));
  try {
    const envFile = join(dir, '.env');
    writeFileSync(
      envFile,
      'MONTAGE_HTTP_PORT=9000\nMONTAGE_DATA_DIR=data\nMONTAGE_LOG_LEVEL=warn\n',
    );
    const fromFile = loadAppConfig({ env: {}, envFile, baseDir: dir });
    assert.equal(fromFile.httpPort, 9000);
    assert.equal(fromFile.dataDir, join(dir, 'data'));
    assert.equal(fromFile.databasePath, join(dir, 'data', 'montage.sqlite'));
    assert.equal(fromFile.logLevel, 'warn');
    const fromEnv = loadAppConfig({ env: { MONTAGE_HTTP_PORT: '9001' }, envFile, baseDir: dir });
    assert.equal(fromEnv.httpPort, 9001);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('other settings are validated with clear messages', () => {
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_JWT_SECRET: 'short' } }),
    /MONTAGE_JWT_SECRET=\(hidden\) is invalid: expected at least 32 characters/,
  );
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_VIDEO_URL_ALLOWLIST: 'ftp://x/' } }),
    /MONTAGE_VIDEO_URL_ALLOWLIST=ftp:\/\/x\/ is invalid: expected an absolute http/,
  );
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_LOG_LEVEL: 'loud' } }),
    /MONTAGE_LOG_LEVEL=loud is invalid: expected one of debug, info/,
  );
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_LIBRARY_SCOPE: 'global' } }),
    /^ConfigError: MONTAGE_LIBRARY_SCOPE=global is invalid: expected one of assembly, school$/,
  );
  assert.equal(
    loadAppConfig({ ...base, env: { MONTAGE_LIBRARY_SCOPE: 'school' } }).libraryScope,
    'school',
  );
  const config = loadAppConfig({
    ...base,
    env: {
      MONTAGE_PUBLIC_URL: 'https://assembly.school.example/',
      MONTAGE_VIDEO_URL_ALLOWLIST: 'https://videos.example/a/, http://b.example/',
    },
  });
  assert.equal(config.publicBaseUrl, 'https://assembly.school.example');
  assert.deepEqual(config.videoUrlAllowList, ['https://videos.example/a/', 'http://b.example/']);
});

test('MONTAGE_EDGES lists edges run elsewhere as ID=PUBLIC_URL|INGEST_URL[|STATUS_URL]', () => {
  assert.deepEqual(loadAppConfig({ ...base, env: {} }).edges, []);
  const config = loadAppConfig({
    ...base,
    env: {
      MONTAGE_EDGES:
        ' edge1=https://edge1.example.org/|rtmp://10.0.0.5:1936/live|http://10.0.0.5:8090 ,' +
        'edge-2.eu=http://edge2.example.org:8090/montage|rtmp://edge2.example.org/live,',
    },
  });
  assert.deepEqual(config.edges, [
    {
      id: 'edge1',
      publicUrl: 'https://edge1.example.org',
      ingestUrl: 'rtmp://10.0.0.5:1936/live',
      statusUrl: 'http://10.0.0.5:8090',
    },
    {
      id: 'edge-2.eu',
      // A path prefix is kept (a proxy that serves the edge under a folder); the playlist is
      // PUBLIC_URL/hls/STREAM/index.m3u8.
      publicUrl: 'http://edge2.example.org:8090/montage',
      // RTMP's default port is written out so that duplicates compare equal.
      ingestUrl: 'rtmp://edge2.example.org:1935/live',
      // Without a third part the registry probes the public URL.
      statusUrl: 'http://edge2.example.org:8090/montage',
    },
  ]);
  // The local edge stays on by default: remote edges come in addition to it.
  assert.equal(config.localEdge, true);
});

test('each bad MONTAGE_EDGES entry is refused with the entry and the part that is wrong', () => {
  const good = 'https://edge1.example.org';
  const ingest = 'rtmp://10.0.0.5:1936/live';
  const cases: Array<[string, RegExp]> = [
    [
      `https://edge1.example.org|${ingest}`,
      /^MONTAGE_EDGES entry 'https:\/\/edge1\.example\.org\|rtmp:\/\/10\.0\.0\.5:1936\/live' is invalid: expected ID=PUBLIC_URL\|INGEST_URL\[\|STATUS_URL\], entries separated by commas$/,
    ],
    [
      `=${good}|${ingest}`,
      /^MONTAGE_EDGES entry '=https:.*' is invalid: expected an id of 1 to 64 characters of A-Z a-z 0-9 \. _ - before '='$/,
    ],
    [
      `edge1 ${good}`,
      /entry 'edge1 https:\/\/edge1\.example\.org' is invalid: expected ID=PUBLIC_URL\|INGEST_URL\[\|STATUS_URL\]/,
    ],
    [
      `bad id=${good}|${ingest}`,
      /entry 'bad id=.*' is invalid: expected an id of 1 to 64 characters/,
    ],
    [
      `local=${good}|${ingest}`,
      /expected an id other than 'local', the local edge's \(MONTAGE_LOCAL_EDGE\)/,
    ],
    [`edge1=${good}`, /expected two or three URLs separated by '\|' after 'edge1='/],
    [`edge1=${good}|${ingest}|${good}|${good}`, /expected two or three URLs separated by '\|'/],
    [
      `edge1=ftp://edge1.example.org|${ingest}`,
      /expected the public URL \(first part\) to be an http:\/\/ or https:\/\/ base URL without \?query, #fragment or user:password@, not 'ftp:\/\/edge1\.example\.org'$/,
    ],
    [
      `edge1=edge1.example.org|${ingest}`,
      /the public URL \(first part\) to be an http:\/\/ or https:\/\/ base URL/,
    ],
    [`edge1=https://edge1.example.org/?x=1|${ingest}`, /the public URL \(first part\)/],
    [`edge1=https://user:pw@edge1.example.org|${ingest}`, /the public URL \(first part\)/],
    [
      `edge1=${good}|http://10.0.0.5:1936/live`,
      /expected the ingest URL \(second part\) to be rtmp:\/\/HOST:PORT\/APP \(e\.g\. rtmp:\/\/10\.0\.0\.5:1936\/live\), not 'http:\/\/10\.0\.0\.5:1936\/live'$/,
    ],
    [`edge1=${good}|rtmp://10.0.0.5:1936`, /the ingest URL \(second part\)/],
    [`edge1=${good}|rtmp://10.0.0.5:1936/live/extra`, /the ingest URL \(second part\)/],
    [`edge1=${good}|rtmp://10.0.0.5:1936/live?secret=x`, /the ingest URL \(second part\)/],
    [`edge1=${good}|rtmp://10.0.0.5:99999/live`, /the ingest URL \(second part\)/],
    [
      `edge1=${good}|${ingest}|ws://10.0.0.5:8090`,
      /expected the status URL \(third part\) to be an http:\/\/ or https:\/\/ base URL/,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => loadAppConfig({ ...base, env: { MONTAGE_EDGES: value } }),
      (error: unknown) => error instanceof ConfigError && message.test(error.message),
      `MONTAGE_EDGES=${value} should fail with ${message}`,
    );
  }
});

test('MONTAGE_EDGES refuses an edge listed twice, the origin itself and the local edge again', () => {
  const edges = (value: string): unknown =>
    loadAppConfig({ ...base, env: { MONTAGE_EDGES: value } });
  assert.throws(
    () =>
      edges('a=https://a.example|rtmp://10.0.0.5/live,a=https://b.example|rtmp://10.0.0.6/live'),
    /^ConfigError: MONTAGE_EDGES is invalid: edges 'a' and 'a' have the same id a; list each edge once$/,
  );
  assert.throws(
    () =>
      edges(
        'a=https://a.example|rtmp://10.0.0.5/live,b=https://b.example|rtmp://10.0.0.5:1935/live/',
      ),
    /MONTAGE_EDGES is invalid: edges 'a' and 'b' have the same ingest URL rtmp:\/\/10\.0\.0\.5:1935\/live; list each edge once/,
  );
  assert.throws(
    () =>
      edges('a=https://x.example/|rtmp://10.0.0.5/live,b=https://x.example|rtmp://10.0.0.6/live'),
    /edges 'a' and 'b' have the same public URL https:\/\/x\.example;/,
  );
  // A push to the origin's own port would be refused (no stream key) and retried forever.
  assert.throws(
    () => edges('a=https://a.example|rtmp://127.0.0.1:1935/live'),
    /MONTAGE_EDGES edge 'a' is invalid: its ingest URL rtmp:\/\/127\.0\.0\.1:1935\/live is the origin itself \(MONTAGE_RTMP_PORT=1935\)/,
  );
  // The local edge's RTMP port, while the local edge runs, is the local edge a second time...
  assert.throws(
    () => edges('a=https://a.example|rtmp://localhost:1936/live'),
    /MONTAGE_EDGES edge 'a' is invalid: its ingest URL rtmp:\/\/localhost:1936\/live is the local edge \(MONTAGE_EDGE_RTMP_PORT=1936\), which MONTAGE_LOCAL_EDGE=true registers already/,
  );
  // ...but an edge of its own on this machine when the app runs none (docker-compose's).
  const alone = loadAppConfig({
    ...base,
    env: {
      MONTAGE_LOCAL_EDGE: 'false',
      MONTAGE_EDGES: 'edge=https://hls.example|rtmp://127.0.0.1:1936/live|http://127.0.0.1:8090',
    },
  });
  assert.equal(alone.localEdge, false);
  assert.equal(alone.edges[0]?.ingestUrl, 'rtmp://127.0.0.1:1936/live');
  assert.equal(alone.edges[0]?.statusUrl, 'http://127.0.0.1:8090');
});

test('MONTAGE_LOCAL_EDGE_PUBLIC_URL is the local edge URL handed to viewers', () => {
  assert.equal(loadAppConfig({ ...base, env: {} }).localEdgePublicUrl, undefined);
  const config = loadAppConfig({
    ...base,
    env: { MONTAGE_LOCAL_EDGE_PUBLIC_URL: 'https://assembly.school.example/' },
  });
  assert.equal(config.localEdgePublicUrl, 'https://assembly.school.example');
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_LOCAL_EDGE_PUBLIC_URL: 'assembly.example' } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message ===
        'MONTAGE_LOCAL_EDGE_PUBLIC_URL=assembly.example is invalid: expected an http:// or ' +
          'https:// base URL without ?query, #fragment or user:password@',
  );
  assert.throws(
    () =>
      loadAppConfig({
        ...base,
        env: { MONTAGE_LOCAL_EDGE_PUBLIC_URL: 'https://a.example/hls?x=1' },
      }),
    /MONTAGE_LOCAL_EDGE_PUBLIC_URL=https:\/\/a\.example\/hls\?x=1 is invalid/,
  );
  // Set with no local edge to name, it would be ignored without a word: refused instead.
  assert.throws(
    () =>
      loadAppConfig({
        ...base,
        env: {
          MONTAGE_LOCAL_EDGE: 'false',
          MONTAGE_LOCAL_EDGE_PUBLIC_URL: 'https://assembly.school.example',
        },
      }),
    /MONTAGE_LOCAL_EDGE_PUBLIC_URL is set but MONTAGE_LOCAL_EDGE=false/,
  );
});

test('origins, rate limits and the metrics token are parsed and checked', () => {
  const defaults = loadAppConfig({ ...base, env: {} });
  assert.deepEqual(defaults.allowedOrigins, []);
  assert.equal(defaults.metricsToken, undefined);
  assert.equal(defaults.restRateLimitPerMinute, 600);
  assert.equal(defaults.socketRateLimitPerMinute, 1200);
  const config = loadAppConfig({
    ...base,
    env: {
      MONTAGE_ALLOWED_ORIGINS: 'https://Montage.School.example:8443/, http://10.0.0.5:8080',
      MONTAGE_METRICS_TOKEN: 'scrape-0123456789abcdef',
      MONTAGE_RATE_LIMIT_REST_PER_MINUTE: '0',
      MONTAGE_RATE_LIMIT_SOCKET_PER_MINUTE: '60',
    },
  });
  assert.deepEqual(config.allowedOrigins, [
    'https://montage.school.example:8443',
    'http://10.0.0.5:8080',
  ]);
  assert.equal(config.metricsToken, 'scrape-0123456789abcdef');
  assert.equal(config.restRateLimitPerMinute, 0);
  assert.equal(config.socketRateLimitPerMinute, 60);
  for (const origin of ['https://a.example/app', 'ftp://a.example', 'a.example', 'https://a/?x']) {
    assert.throws(
      () => loadAppConfig({ ...base, env: { MONTAGE_ALLOWED_ORIGINS: origin } }),
      /MONTAGE_ALLOWED_ORIGINS=.* is invalid: expected a comma-separated list of origins/,
      origin,
    );
  }
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_METRICS_TOKEN: 'short' } }),
    // The token itself never appears in the message.
    /^ConfigError: MONTAGE_METRICS_TOKEN=\(hidden\) is invalid: expected at least 16/,
  );
  assert.throws(
    () => loadAppConfig({ ...base, env: { MONTAGE_RATE_LIMIT_REST_PER_MINUTE: '-1' } }),
    /MONTAGE_RATE_LIMIT_REST_PER_MINUTE=-1 is invalid/,
  );
});

test('MONTAGE_HLS_URL_TTL_SECONDS sets how long signed HLS URLs last, from 20 s to a day', () => {
  assert.equal(loadAppConfig({ ...base, env: {} }).hlsUrlTtlSeconds, 600);
  assert.equal(
    loadAppConfig({ ...base, env: { MONTAGE_HLS_URL_TTL_SECONDS: '20' } }).hlsUrlTtlSeconds,
    20,
  );
  for (const value of ['19', '86401', '1.5', 'ten']) {
    assert.throws(
      () => loadAppConfig({ ...base, env: { MONTAGE_HLS_URL_TTL_SECONDS: value } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          `MONTAGE_HLS_URL_TTL_SECONDS=${value} is invalid: expected an integer from 20 to 86400`,
      value,
    );
  }
});
