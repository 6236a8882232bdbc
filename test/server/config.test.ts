import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadAppConfig } from '../../server/config.js';

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
