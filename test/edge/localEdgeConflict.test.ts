/**
 * A stored edge with the local edge's ingest URL (registered while the app ran without a local
 * edge) makes `npm start` with the local edge fail with a clear error instead of pushing to one
 * nginx twice, and leaves neither the local nginx nor the origin running. Its own file: one
 * origin per process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery } from '../../server/delivery.js';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { Logger } from '../../server/log.js';
import { RtmpOrigin } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import { EDGE_SECRET } from './helpers.js';

test('a stored edge with the local edge’s ingest URL stops npm start with a clear error, leaving nothing running', async (t) => {
  const otherDir = await mkdtemp(path.join(tmpdir(), 'montage-fleet-conflict-'));
  t.after(() => rm(otherDir, { recursive: true, force: true }));
  const edgeRtmpPort = await freePort();
  const env = {
    MONTAGE_DATA_DIR: otherDir,
    MONTAGE_HTTP_PORT: '0',
    MONTAGE_RTMP_PORT: String(await freePort()),
    MONTAGE_EDGE_HTTP_PORT: String(await freePort()),
    MONTAGE_EDGE_RTMP_PORT: String(edgeRtmpPort),
    MONTAGE_EDGE_SECRET: EDGE_SECRET,
  };
  // Registered while the app ran without a local edge...
  const first = new App(
    loadAppConfig({ env: { ...env, MONTAGE_LOCAL_EDGE: 'false' }, envFile: null }),
    {
      logger: new Logger('silent'),
      media: false,
    },
  );
  first.edges.add('operator', {
    id: 'same-port',
    publicUrl: 'https://same.example',
    ingestUrl: `rtmp://127.0.0.1:${edgeRtmpPort}/live`,
  });
  await first.stop();
  // ...then the local edge is turned on, on that very port.
  const config = loadAppConfig({ env, envFile: null });
  const second = new App(config, { logger: new Logger('silent'), media: false });
  t.after(() => second.stop());
  await assert.rejects(startDelivery(second, deliveryOptions(config)), {
    name: 'EdgeConflictError',
    message: `edge 'same-port' already has the ingest URL rtmp://127.0.0.1:${edgeRtmpPort}/live; each edge is registered once`,
  });
  const local = new NginxEdge({
    prefix: path.join(otherDir, 'edge'),
    httpPort: Number(env.MONTAGE_EDGE_HTTP_PORT),
    rtmpPort: edgeRtmpPort,
    edgeSecret: EDGE_SECRET,
  });
  assert.equal(await local.pid(), undefined, 'the local nginx was stopped again');
  // The origin's port is free again: a new origin can take it.
  const origin = new RtmpOrigin({
    port: config.rtmpPort,
    edgeSecret: EDGE_SECRET,
  });
  await origin.start();
  await origin.stop();
});
