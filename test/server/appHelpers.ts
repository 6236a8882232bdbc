/**
 * Starts the real app server (real HTTP, socket.io and SQLite) in a temporary data dir, on a
 * free loopback port, and returns a teardown. `start()` resolves once the server listens, so no
 * test sleeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../server/App.js';
import { loadAppConfig } from '../../server/config.js';
import { Logger } from '../../server/log.js';

export interface RunningApp {
  app: App;
  url: string;
  dataDir: string;
  /** An operator token (every assembly). */
  operatorToken: string;
  /** Stops the app; removes the data dir unless `keepData`. */
  teardown(options?: { keepData?: boolean }): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'montage-app-'));
}

export async function setup(
  dataDir: string = tempDataDir(),
  extraEnv: Record<string, string> = {},
): Promise<RunningApp> {
  const config = loadAppConfig({
    env: { MONTAGE_DATA_DIR: dataDir, MONTAGE_HTTP_PORT: '0', ...extraEnv },
    envFile: null,
  });
  // REST and signaling tests run without a media server: no connection attempts.
  const app = new App(config, { logger: new Logger('silent'), media: false });
  await app.start();
  return {
    app,
    url: app.url,
    dataDir,
    operatorToken: app.core.invites.mintOperator('test', 3600).token,
    async teardown(options = {}) {
      await app.stop();
      if (options.keepData !== true) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** A JSON request with an optional bearer token; the body is sent as JSON unless it is a string. */
export async function request(
  url: string,
  method: string,
  token?: string,
  body?: unknown,
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** The `{error: {code, message}}` of a refused request. */
export function wireError(body: unknown): { code: string; message: string } {
  const error = (body as { error?: { code: string; message: string } } | undefined)?.error;
  if (error === undefined) throw new Error(`not an error body: ${JSON.stringify(body)}`);
  return error;
}

/** The token inside an invite link. */
export function tokenOf(link: string): string {
  const token = new URL(link).searchParams.get('token');
  if (token === null) throw new Error(`no token in ${link}`);
  return token;
}

export interface CreatedAssembly {
  id: string;
  moderatorToken: string;
  moderatorLink: string;
}

/**
 * Creates an assembly through REST with the operator token: live from the start, as most tests
 * need the program delivered at once, or backstage (`{ live: false }`) as a school's would be.
 */
export async function createAssembly(
  running: RunningApp,
  name = 'Friday assembly',
  options: { live?: boolean } = {},
): Promise<CreatedAssembly> {
  const { status, body } = await request(
    `${running.url}/api/assemblies`,
    'POST',
    running.operatorToken,
    { name, live: options.live ?? true },
  );
  if (status !== 201) throw new Error(`create failed: ${status} ${JSON.stringify(body)}`);
  const created = body as { assembly: { id: string }; moderatorInvite: { url: string } };
  return {
    id: created.assembly.id,
    moderatorLink: created.moderatorInvite.url,
    moderatorToken: tokenOf(created.moderatorInvite.url),
  };
}
