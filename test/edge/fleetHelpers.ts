/**
 * Helpers of the edge fleet tests: real nginx-rtmp edges on free ports in a test folder, and a
 * bounded wait for a condition (the registry probes in the background, so tests wait for what
 * it reports instead of sleeping).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { freePort } from '../helpers/engineProcess.js';
import { EDGE_SECRET } from './helpers.js';

/** A stopped edge in `<dir>/<name>`; the caller starts it and stops it. */
export async function newEdge(dir: string, name: string): Promise<NginxEdge> {
  return new NginxEdge({
    prefix: path.join(dir, name),
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
    // nginx as root would run its workers as nobody, who cannot write the test's HLS folder.
    user: process.getuid?.() === 0 ? 'root' : undefined,
  });
}

/**
 * Calls `probe` every 100 ms until it returns something other than undefined and returns that;
 * after `timeoutMs` throws, naming `what` and the last thing `describe` says was seen.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}; ${describe()}`);
    }
    await sleep(100);
  }
}
