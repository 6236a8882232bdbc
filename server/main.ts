/**
 * `npm start`: starts everything Montage needs on this machine and prints where it runs.
 *
 * That is the embedded media engine (`dist/kms/src/main.js`), supervised so that a crash
 * restarts it, then the app server (REST, pages, socket.io signaling; `server/App.ts`), then the
 * RTMP origin inside it, the local nginx-rtmp edge and the registered edges
 * (`server/delivery.ts`; MONTAGE_EDGES seeds them on the first start, operators add more at run
 * time on /operator). Each live assembly's program bridge (ffmpeg) is started by its media
 * (`server/media/AssemblyMedia.ts`).
 * With `KMS_URI` set, an external Kurento Media Server is used and no engine is started.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { App } from './App.js';
import { loadAppConfig, redactedUri } from './config.js';
import { deliveryOptions, startDelivery, type Delivery } from './delivery.js';
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
      // Players read the media library and recorders write the recordings folder, nothing else
      // (unless KMS_FILE_ROOTS says otherwise).
      env: {
        ...process.env,
        KMS_FILE_ROOTS:
          process.env.KMS_FILE_ROOTS ?? `${appConfig.mediaDir},${appConfig.recordingsDir}`,
      },
    });
    supervisor.on('crashed', (code, signal, delayMs) => {
      log(`media engine exited (${signal ?? `code ${String(code)}`}); restarting in ${delayMs} ms`);
    });
    engine = supervisor;
  }
  const app = new App(appConfig);
  // Filled in once delivery runs; the shutdown handler, installed earlier, stops it if set.
  const started: { delivery?: Delivery } = {};

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: stopping`);
    // The app server first (its clients see a clean close), then delivery, then the engine.
    app
      .stop()
      .catch((error: unknown) => log(`stopping the app server failed: ${String(error)}`))
      .then(() => started.delivery?.stop())
      .catch((error: unknown) => log(`stopping delivery failed: ${String(error)}`))
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
  // The origin and the edges start after the app server so that they register with it.
  const delivery = await startDelivery(app, deliveryOptions(appConfig));

  const engineUrl = `ws://${config.engineHost}:${config.enginePort}/${config.enginePath}`;
  started.delivery = delivery;
  log('Montage is running:');
  log(`  app server (REST, pages, socket.io)  ${app.url}`);
  log(`  health and metrics                   ${app.url}/healthz  ${app.url}/metrics`);
  log(
    engine !== undefined
      ? `  media engine (Kurento protocol)      ${engineUrl}`
      : `  media server (external Kurento)      ${redactedUri(appConfig.mediaServerUri)}`,
  );
  log(
    `  RTMP origin                          rtmp://${appConfig.rtmpHost}:${delivery.origin.port}/live`,
  );
  if (delivery.edge !== undefined) {
    log(
      `  HLS edge (local nginx-rtmp)          ${delivery.edge.httpUrl}/hls/s/<expires>/<signature>/<assembly>/index.m3u8`,
    );
    log(`  edge status                          ${delivery.edge.httpUrl}/stat`);
    if (appConfig.localEdgePublicUrl !== undefined) {
      log(
        `  HLS for viewers (local edge)         ${appConfig.localEdgePublicUrl}/hls/s/<expires>/<signature>/<assembly>/index.m3u8`,
      );
    }
  }
  // The registered edges (MONTAGE_EDGES seeded them on the first start; operators add more).
  for (const edge of app.edges.list().filter((registered) => !registered.local)) {
    log(
      `  HLS edge ${edge.id.padEnd(27)} ${edge.publicUrl}/hls/s/<expires>/<signature>/<assembly>/index.m3u8  (origin pushes to ${edge.ingestUrl})`,
    );
  }
  log(
    appConfig.libraryScope === 'assembly'
      ? `  media library (one per assembly)     ${appConfig.mediaDir}/<assembly>/`
      : `  media library (the school's, shared) ${appConfig.mediaDir}`,
  );
  log(
    `  pages                                ${app.url}/panel  /studio/<assembly>  /camera/<assembly>  /watch/<assembly>`,
  );
  log('                                       (each needs ?token= from an invite link)');
  log(`  edge fleet (operators)               ${app.url}/operator?token=<operator token>`);
  log('  first moderator link (control panel): npm run token -- --create "Assembly name"');
  log('                                       (it starts backstage: press Go live on the panel)');
}

main().catch((error: unknown) => {
  log(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
