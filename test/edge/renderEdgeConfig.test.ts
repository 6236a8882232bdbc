import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadAppConfig } from '../../server/config.js';
import { renderEdgeConfig } from '../../server/edges/renderEdgeConfig.js';
import { REPO_ROOT } from '../helpers/engineProcess.js';

const run = promisify(execFile);
const SECRET = 'render-test-secret-0123456789';

test('the edge CLI renders a config that nginx -t accepts, with the secret kept private', async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'montage-edge-cli-'));
  try {
    const { stdout } = await run(process.execPath, [
      path.join(REPO_ROOT, 'dist/server/edges/cli.js'),
      'render',
      '--out',
      out,
      '--secret',
      SECRET,
      '--origin-allow',
      '10.0.0.5,10.0.1.0/24',
      '--http-port',
      '18091',
      '--rtmp-port',
      '19391',
      '--user',
      process.getuid?.() === 0 ? 'root' : '',
      '--live-window',
      '6',
      '--retention',
      '72h',
      '--nofile',
      '20000',
    ]);
    assert.match(
      stdout,
      /register: http http:\/\/THIS_HOST:18091 {2}ingest rtmp:\/\/THIS_HOST:19391\/live/,
    );
    // The line to paste into the app server's settings, which loadAppConfig accepts.
    const entry = /^app server: MONTAGE_EDGES=(.+)$/m.exec(stdout)?.[1];
    assert.equal(entry, 'THIS_HOST=http://THIS_HOST:18091|rtmp://THIS_HOST:19391/live');
    assert.deepEqual(loadAppConfig({ env: { MONTAGE_EDGES: entry }, envFile: null }).edges, [
      {
        id: 'THIS_HOST',
        publicUrl: 'http://this_host:18091',
        ingestUrl: 'rtmp://this_host:19391/live',
        statusUrl: 'http://this_host:18091',
      },
    ]);
    const file = path.join(out, 'nginx.conf');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const config = await readFile(file, 'utf8');
    assert.match(config, /allow publish 10\.0\.1\.0\/24;/);
    assert.match(config, /hls_type event;/);
    assert.match(config, /hls_playlist_length 8h;/);
    assert.match(config, /hls_cleanup off;/);
    assert.match(config, /hls_fragment_naming timestamp;/);
    // One worker (nginx-rtmp's auto push cannot relay with Debian's module), sized from the
    // descriptor limit.
    assert.match(config, /^worker_processes 1;$/m);
    assert.match(config, /^rtmp_auto_push on;$/m);
    assert.match(config, new RegExp(`^rtmp_socket_dir ${out}/tmp/rtmp;$`, 'm'));
    assert.match(config, /^worker_rlimit_nofile 20000;$/m);
    assert.match(config, /^\s+worker_connections 9500;$/m);
    assert.match(config, /^\s+multi_accept on;$/m);
    // The playlist agent, once per stream, with the flags given.
    const agent = /^\s+exec_push (.+);$/m.exec(config)?.[1] ?? '';
    assert.equal(
      agent,
      `${process.execPath} --max-semi-space-size=1 ` +
        `${path.join(REPO_ROOT, 'dist/server/edges/edgeAgent.js')} ` +
        `--hls-dir ${out}/hls --window 6 --retention 72h --stream $name ` +
        `1>>${out}/logs/agent.log 2>&1`,
    );
    assert.match(config, /^\s+exec_kill_signal term;$/m);
    assert.match(config, /^\s+gzip_static on;$/m);
    assert.match(config, /^\s+gzip_types application\/vnd\.apple\.mpegurl;$/m);
    assert.match(config, /^\s+open_file_cache max=1000 inactive=20s;$/m);
    assert.doesNotMatch(config, /\{\{/);
    // Where the workers (and agents) write: the CLI made it theirs.
    assert.equal((await stat(path.join(out, 'logs/agent.log'))).isFile(), true);
    assert.equal((await stat(path.join(out, 'tmp/rtmp'))).isDirectory(), true);
    await run('/usr/sbin/nginx', ['-t', '-q', '-p', out, '-c', file, '-e', 'logs/error.log']);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('rendering refuses values that would break or extend the config', () => {
  const base = { prefix: '/srv/edge', httpPort: 8090, rtmpPort: 1935, edgeSecret: SECRET };
  assert.throws(() => renderEdgeConfig({ ...base, hlsPlaylistLength: '30s' }), /whole assembly/);
  assert.throws(() => renderEdgeConfig({ ...base, edgeSecret: 'short' }), /edgeSecret/);
  assert.throws(
    () => renderEdgeConfig({ ...base, edgeSecret: `${SECRET}";deny all;#` }),
    /edgeSecret/,
  );
  assert.throws(() => renderEdgeConfig({ ...base, originAllow: ['1.2.3.4; allow all'] }), /allow/);
  assert.throws(() => renderEdgeConfig({ ...base, prefix: 'relative/dir' }), /absolute/);
  assert.throws(() => renderEdgeConfig({ ...base, retention: '30m' }), /retention/);
  assert.throws(() => renderEdgeConfig({ ...base, retention: '2h; deny all' }), /retention/);
  assert.throws(() => renderEdgeConfig({ ...base, liveWindow: 2 }), /liveWindow/);
  assert.throws(() => renderEdgeConfig({ ...base, workerProcesses: 0 }), /workerProcesses/);
  assert.throws(
    () => renderEdgeConfig({ ...base, workerRlimitNofile: 1024, workerConnections: 4096 }),
    /must not exceed/,
  );
  assert.throws(() => renderEdgeConfig({ ...base, nodeBinary: '/opt/my node/bin/node' }), /node/);
  assert.throws(() => renderEdgeConfig({ ...base, prefix: `/srv/${'x'.repeat(90)}` }), /too long/);
  const one = renderEdgeConfig({ ...base, workerProcesses: 'auto', workerRlimitNofile: 4096 });
  assert.match(one, /^worker_processes auto;$/m);
  assert.match(one, /^\s+worker_connections 1792;$/m);
  assert.match(one, /open_file_cache max=512 /);
  assert.match(renderEdgeConfig({ ...base, httpHost: '10.0.0.9' }), /listen 127\.0\.0\.1:8090;/);
});
