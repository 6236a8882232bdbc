/**
 * The whole system started the way `npm start` starts it, for end-to-end tests and benchmarks:
 * the media engine (supervised by the app, or on its own and reached through KMS_URI), the app
 * server, the RTMP origin and a local nginx-rtmp edge (`startDelivery`, as server/main.ts does).
 * `setup()` waits until the app is connected to the media server, so no caller sleeps for it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { deliveryOptions, startDelivery, type Delivery } from '../../server/delivery.js';
import { parseAssemblyId } from '../../server/domain/ids.js';
import { EngineSupervisor, waitForPort } from '../../server/engine/EngineSupervisor.js';
import { Logger } from '../../server/log.js';
import type {
  ClientToServerEvents,
  Reply,
  RoleWire,
  ServerToClientEvents,
} from '../../server/signaling/events.js';
import { freePort, REPO_ROOT, startEngineProcess } from '../helpers/engineProcess.js';

export type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

export type EngineMode = 'embedded' | 'KMS_URI';

/** Everything the test started; `teardown()` stops it all, in reverse order. */
export interface Stack {
  app: App;
  delivery: Delivery;
  operatorToken: string;
  /** The app's data dir (SQLite, library, recordings, the edge's HLS), removed by teardown. */
  dataDir: string;
  teardown(): Promise<void>;
}

/**
 * Starts the engine (embedded: supervised as `npm start` does; external: its own process reached
 * through KMS_URI), the app server, the origin and the local edge, and waits until the app is
 * connected to the media server, so no step of the test sleeps for readiness.
 */
export async function setup(
  mode: EngineMode,
  extraEnv: Record<string, string> = {},
  /** Settings of the embedded engine (e.g. KMS_PLAYER_ALLOWED_HOSTS for a test's HTTP server). */
  engineEnv: Record<string, string> = {},
): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'montage-e2e-'));
  const cleanups: Array<() => Promise<void>> = [
    () => rm(dataDir, { recursive: true, force: true }),
  ];
  const teardown = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error('teardown step failed', error));
    }
  };
  try {
    // Free ports for the origin and the local edge, so tests can run beside a running system.
    const env: Record<string, string> = {
      MONTAGE_DATA_DIR: dataDir,
      MONTAGE_HTTP_PORT: '0',
      MONTAGE_RTMP_PORT: String(await freePort()),
      MONTAGE_EDGE_HTTP_PORT: String(await freePort()),
      MONTAGE_EDGE_RTMP_PORT: String(await freePort()),
      MONTAGE_CAMERA_GRACE_MS: '2000',
      ...extraEnv,
    };
    if (mode === 'KMS_URI') {
      const engine = await startEngineProcess();
      cleanups.push(() => engine.stop());
      env.KMS_URI = engine.url;
    } else {
      const port = await freePort();
      const engine = new EngineSupervisor({
        command: process.execPath,
        args: [path.join(REPO_ROOT, 'dist', 'kms', 'src', 'main.js')],
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          KMS_HOST: '127.0.0.1',
          KMS_PORT: String(port),
          KMS_ICE_ADDRESSES: '127.0.0.1',
          // As npm start runs it: players and recorders stay in the app's folders.
          KMS_FILE_ROOTS: appFolders(env),
          // The fault tests find the assembly's worker among the engine's children: no warm
          // worker (KMS_WARM_WORKERS) may stand beside it.
          KMS_WARM_WORKERS: '0',
          ...engineEnv,
        },
      });
      engine.start();
      cleanups.push(() => engine.stop());
      await waitForPort('127.0.0.1', port, 15_000);
      env.KMS_PORT = String(port);
    }
    const config = loadAppConfig({ env, envFile: null });
    const app = new App(config, {
      logger: new Logger(process.env.E2E_LOG === '1' ? 'debug' : 'warn'),
    });
    await app.start();
    cleanups.push(() => app.stop());
    await app.mediaServer?.waitConnected(15_000);
    // The origin and the edges are configured and started exactly as server/main.ts does.
    const delivery = await startDelivery(app, deliveryOptions(config));
    cleanups.push(() => delivery.stop());
    return {
      app,
      delivery,
      operatorToken: app.core.invites.mintOperator('e2e', 3600).token,
      dataDir,
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** The app's media library and recordings folders for `env`, as npm start passes them. */
function appFolders(env: Record<string, string>): string {
  const config = loadAppConfig({ env, envFile: null });
  return `${config.mediaDir},${config.recordingsDir}`;
}

export function connectSocket(url: string, token: string, assembly: string): Client {
  return io(url, {
    auth: { token, assembly },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
}

export async function connected(socket: Client): Promise<void> {
  if (socket.connected) return;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

export async function call<T>(promise: Promise<unknown>): Promise<T> {
  const reply = (await promise) as Reply<T>;
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.data;
}

/** A token for one assembly and role, minted by the app as an invite link would carry it. */
export function mintToken(
  app: App,
  assemblyId: string,
  role: Exclude<RoleWire, 'operator'>,
): string {
  return app.core.invites.mint('e2e', parseAssemblyId(assemblyId), role, 3600).token;
}

/** An invite link (page URL and token) for one assembly and role, as the panel mints it. */
export function mintLink(
  app: App,
  assemblyId: string,
  role: Exclude<RoleWire, 'operator'>,
): string {
  return app.core.invites.mint('e2e', parseAssemblyId(assemblyId), role, 3600).invite.url;
}
