/**
 * `npm start`: starts everything Montage needs on this machine and prints where it runs.
 *
 * For now that is the embedded media engine (`dist/kms/src/main.js`), supervised so that a crash
 * restarts it. The app server and the nginx edge join here in later issues. With `KMS_URI` set,
 * an external Kurento Media Server is used and no engine is started.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
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

  if (config.externalKurentoUri !== undefined) {
    log(`using the external media server at ${config.externalKurentoUri} (KMS_URI)`);
    log('nothing else to start yet: the app server and the edge arrive in later issues');
    return;
  }

  const engine = new EngineSupervisor({
    command: process.execPath,
    args: [join(REPO_ROOT, 'dist', 'kms', 'src', 'main.js')],
    cwd: REPO_ROOT,
    env: process.env,
  });
  engine.on('crashed', (code, signal, delayMs) => {
    log(`media engine exited (${signal ?? `code ${String(code)}`}); restarting in ${delayMs} ms`);
  });

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: stopping`);
    engine.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log(`stopping the media engine failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.once('SIGHUP', shutdown);
  // Whatever ends this process, the engine must not outlive it.
  process.once('exit', () => engine.killNow());

  engine.start();
  await waitForPort(config.engineHost, config.enginePort, ENGINE_START_TIMEOUT_MS);

  const engineUrl = `ws://${config.engineHost}:${config.enginePort}/${config.enginePath}`;
  log('Montage is running:');
  log(`  media engine (Kurento protocol)  ${engineUrl}`);
  log('  the app server and the nginx edge arrive in later issues');
}

main().catch((error: unknown) => {
  log(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
