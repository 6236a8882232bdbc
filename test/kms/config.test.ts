/**
 * The engine's settings (kms/src/config.ts): defaults, validation with messages that name the
 * key, unknown KMS_* keys refused, and the jitterbuffer latency reaching a real worker's command
 * line (which refuses an out-of-range value itself).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../kms/src/config.js';
import { Worker, type WorkerSettings } from '../../kms/src/worker/Worker.js';
import { REAL_WORKER } from './helpers.js';

const NO_FILE = '/nonexistent/.env';

test('defaults: loopback on 8888, path kurento, a 20 ms jitterbuffer', () => {
  const config = loadConfig({}, NO_FILE);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8888);
  assert.equal(config.path, 'kurento');
  assert.equal(config.jitterBufferMs, 20);
  assert.ok(config.iceAddresses.includes('127.0.0.1'));
  assert.equal(config.rtpIpv6Address, '::1', 'useIpv6 RtpEndpoints stay on loopback');
  assert.equal(config.workerRequestTimeoutMs, 60_000, 'a hung worker is killed after a minute');
});

test('settings are validated with messages that name the key', () => {
  assert.equal(loadConfig({ KMS_JITTER_BUFFER_MS: '150' }, NO_FILE).jitterBufferMs, 150);
  assert.equal(loadConfig({ KMS_JITTER_BUFFER_MS: '0' }, NO_FILE).jitterBufferMs, 0);
  assert.equal(loadConfig({ KMS_RTP_IPV6_ADDRESS: 'fd00::2' }, NO_FILE).rtpIpv6Address, 'fd00::2');
  assert.equal(
    loadConfig({ KMS_WORKER_REQUEST_TIMEOUT_MS: '0' }, NO_FILE).workerRequestTimeoutMs,
    0,
    '0 waits for ever',
  );
  for (const [key, value, message] of [
    [
      'KMS_JITTER_BUFFER_MS',
      '2001',
      /KMS_JITTER_BUFFER_MS=2001 is invalid: expected an integer between 0 and 2000/,
    ],
    ['KMS_JITTER_BUFFER_MS', '-5', /KMS_JITTER_BUFFER_MS=-5 is invalid/],
    ['KMS_PORT', 'eighty', /KMS_PORT=eighty is invalid/],
    ['KMS_ICE_ADDRESSES', '127.0.0.1,localhost', /'localhost', which is not an IPv4 or/],
    ['KMS_ICE_ADDRESSES', 'fe80::1', /'fe80::1', which is not an IPv4 or \(non-link-local\)/],
    ['KMS_RTP_IPV6_ADDRESS', '127.0.0.1', /KMS_RTP_IPV6_ADDRESS=127.0.0.1 is invalid/],
    ['KMS_RTP_IPV6_ADDRESS', 'fe80::1', /expected an IPv6 address that is not link-local/],
    ['KMS_STUN', 'stun.example.org', /KMS_STUN=stun.example.org is invalid: expected host:port/],
    ['KMS_JITTER_BUFER_MS', '20', /unknown setting\(s\) KMS_JITTER_BUFER_MS/],
    ['KMS_HTTP_ENDPOINT_ADDRESS', 'localhost', /KMS_HTTP_ENDPOINT_ADDRESS=localhost is invalid/],
    ['KMS_HTTP_ENDPOINT_PORT', '70000', /KMS_HTTP_ENDPOINT_PORT=70000 is invalid/],
    ['KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS', 'a b', /ANNOUNCED_ADDRESS=a b is invalid/],
    ['KMS_HTTP_ENDPOINT_MAX_BYTES', '0', /KMS_HTTP_ENDPOINT_MAX_BYTES=0 is invalid/],
    ['KMS_WORKER_REQUEST_TIMEOUT_MS', '1.5', /KMS_WORKER_REQUEST_TIMEOUT_MS=1.5 is invalid/],
  ] as const) {
    assert.throws(
      () => loadConfig({ [key]: value }, NO_FILE),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
  }
});

test("HttpPostEndpoints' HTTP server: 127.0.0.1:9091 by default, as Kurento's port; settable", () => {
  const defaults = loadConfig({}, NO_FILE);
  assert.equal(defaults.httpEndpointAddress, '127.0.0.1');
  assert.equal(defaults.httpEndpointPort, 9091);
  assert.equal(defaults.httpEndpointAnnouncedAddress, undefined);
  const set = loadConfig(
    {
      KMS_HTTP_ENDPOINT_ADDRESS: '0.0.0.0',
      KMS_HTTP_ENDPOINT_PORT: '0',
      KMS_HTTP_ENDPOINT_ANNOUNCED_ADDRESS: 'media1.school.example',
      KMS_HTTP_ENDPOINT_MAX_BYTES: '1000',
      KMS_RECORDER_ALLOWED_HOSTS: '127.0.0.1, Storage.Local',
    },
    NO_FILE,
  );
  assert.equal(set.httpEndpointAddress, '0.0.0.0');
  assert.equal(set.httpEndpointPort, 0);
  assert.equal(set.httpEndpointAnnouncedAddress, 'media1.school.example');
  assert.equal(set.httpEndpointMaxBytes, 1000);
  assert.deepEqual(set.recorderAllowedHosts, ['127.0.0.1', 'storage.local']);
});

function settings(jitterBufferMs: number): WorkerSettings {
  return {
    command: REAL_WORKER,
    prefixArgs: [],
    iceAddresses: ['127.0.0.1'],
    stun: undefined,
    turn: undefined,
    jitterBufferMs,
    logPrefix: '[config test worker]',
    startTimeoutMs: 10_000,
    requestTimeoutMs: 0,
  };
}

test('a worker starts with the configured jitterbuffer and refuses one out of range', async () => {
  const worker = await Worker.start(settings(40));
  await worker.close();
  await assert.rejects(Worker.start(settings(5000)), /rejected its command line \(exit 43\)/);
});
