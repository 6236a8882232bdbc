/**
 * `npm start`: starts everything Montage needs on this machine and prints where it runs.
 *
 * That is the embedded media engine (`dist/kms/src/main.js`), supervised so that a crash
 * restarts it, then the app server (REST, pages, socket.io signaling; `server/App.ts`). With
 * `KMS_URI` set, an external Kurento Media Server is used and no engine is started. The RTMP
 * origin, the bridge and the nginx edge join at the marked places below.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { App } from './App.js';
import { loadAppConfig } from './config.js';
import { EngineSupervisor, waitForPort } from './engine/EngineSupervisor.js';

/** The repository root, found from this file's place in dist/server/. */
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENGINE_START_TIMEOUT_MS = 30_000;

interface StartConfig {
  /** An external Kurento to use instead of the embedded engine. */
  externalKurentoUri: string | undefined;
  engineHost: string;
  enginePort: number;
  enginePath: string;
}

function readConfig(env: NodeJS.ProcessEnv): StartConfig {
  const text = (key: string): string | undefined => {
    const value = env[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const portText = text('KMS_PORT') ?? '8888';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new Error(`KMS_PORT=${portText} is invalid: expected an integer from 1 to 65535`);
  }
  return {
    externalKurentoUri: text('KMS_URI'),
    engineHost: text('KMS_HOST') ?? '127.0.0.1',
    enginePort: port,
    enginePath: (text('KMS_PATH') ?? 'kurento').replace(/^\/+/, ''),
  };
}

function log(message: string): void {
  process.stdout.write(`[montage] ${message}\n`);
}

async function main(): Promise<void> {
  // .env fills in what the environment leaves unset; the engine child inherits the result.
  dotenv.config({ path: join(REPO_ROOT, '.env'), quiet: true });
  const config = readConfig(process.env);

  // The app server's settings are validated before anything starts, so a typo fails at once.
  const appConfig = loadAppConfig({ env: process.env, baseDir: REPO_ROOT });

  let engine: EngineSupervisor | undefined;
  if (config.externalKurentoUri !== undefined) {
    log(`using the external media server at ${config.externalKurentoUri} (KMS_URI)`);
  } else {
    const supervisor = new EngineSupervisor({
      command: process.execPath,
      args: [join(REPO_ROOT, 'dist', 'kms', 'src', 'main.js')],
      cwd: REPO_ROOT,
      env: process.env,
    });
    supervisor.on('crashed', (code, signal, delayMs) => {
      log(`media engine exited (${signal ?? `code ${String(code)}`}); restarting in ${delayMs} ms`);
    });
    engine = supervisor;
  }
  const app = new App(appConfig);

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: stopping`);
    // The app server first (its clients see a clean close), then the engine.
    app
      .stop()
      .catch((error: unknown) => log(`stopping the app server failed: ${String(error)}`))
      .then(() => engine?.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log(`stopping failed: ${String(error)}`);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.once('SIGHUP', shutdown);
  // Whatever ends this process, the engine must not outlive it.
  process.once('exit', () => engine?.killNow());

  if (engine !== undefined) {
    engine.start();
    await waitForPort(config.engineHost, config.enginePort, ENGINE_START_TIMEOUT_MS);
  }
  await app.start();
  // Start the RTMP origin (server/origin), the bridge and the local nginx edge here, after the
  // app server, so that they can register with it.

  const engineUrl = `ws://${config.engineHost}:${config.enginePort}/${config.enginePath}`;
  log('Montage is running:');
  log(`  app server (REST, pages, socket.io)  ${app.url}`);
  log(`  health and metrics                   ${app.url}/healthz  ${app.url}/metrics`);
  log(
    engine !== undefined
      ? `  media engine (Kurento protocol)      ${engineUrl}`
      : `  media server (external Kurento)      ${appConfig.mediaServerUri}`,
  );
  // The RTMP origin and the edge print their URLs here:
  //   log(`  RTMP origin                          rtmp://${appConfig.rtmpHost}:${appConfig.rtmpPort}/live`);
  //   log(`  HLS edge                             http://127.0.0.1:${appConfig.edgeHttpPort}/`);
  log('  first moderator link:                npm run token -- --create "Assembly name"');
}

main().catch((error: unknown) => {
  log(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
