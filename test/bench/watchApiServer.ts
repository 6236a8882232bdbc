/**
 * The server side of `npm run bench -- watch`, run as its own process so that the load
 * generator does not share its event loop: `montage` is the real app server (REST, steering,
 * socket.io, SQLite) with three edges in its fleet; `hello` is the anchor, a plain express
 * hello-world. Each prints one JSON line saying where it listens, then serves until killed.
 */
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type { EdgeFleetView, EdgeView } from '../../server/edges/EdgeView.js';
import { Logger } from '../../server/log.js';
import { tempDataDir } from '../server/appHelpers.js';

/** Three healthy edges that viewers' players would fetch from (not the app's work). */
const FLEET: EdgeFleetView = {
  snapshot: (): EdgeView[] =>
    ['edge1', 'edge2', 'edge3'].map((id) => ({
      id,
      publicUrl: `https://${id}.school.example`,
      state: 'active',
      healthy: true,
      httpConnections: undefined,
    })),
};

async function montage(): Promise<void> {
  const dataDir = tempDataDir();
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadAppConfig({
    env: { MONTAGE_DATA_DIR: dataDir, MONTAGE_HTTP_PORT: '0' },
    envFile: null,
  });
  const app = new App(config, { logger: new Logger('silent'), media: false, fleet: FLEET });
  await app.start();
  const assembly = app.core.assemblies.create('bench', { name: 'Whole school' }, { live: true });
  const token = app.core.invites.mint('bench', parseAssemblyId(assembly.id), 'viewer', 3600);
  console.log(JSON.stringify({ url: app.url, assemblyId: assembly.id, token: token.token }));
}

async function hello(): Promise<void> {
  const app = express();
  app.get('/hello', (_req, res) => {
    res.send('hello world');
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
}

await (process.argv[2] === 'hello' ? hello() : montage());
