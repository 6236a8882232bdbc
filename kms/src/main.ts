import { ConfigError, loadConfig } from './config.js';
import { startEngine } from './Engine.js';

export { startEngine } from './Engine.js';

/**
 * `node dist/kms/src/main.js`: reads the configuration, starts the engine,
 * prints its URL and shuts down cleanly (every worker ended) on SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`montage media engine: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const engine = await startEngine(config);
  process.stdout.write(`montage media engine listening on ${engine.url}\n`);
  const shutdown = (signal: string): void => {
    process.stdout.write(`montage media engine: ${signal}, shutting down\n`);
    engine.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`montage media engine: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `montage media engine failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
