/**
 * The app of `npm run bench -- soak` in a process of its own: test/e2e/stack.ts's `setup()`
 * (the app, the origin and the local edge in this process, the engine supervised as its child,
 * as `npm start` runs them), so that the bench measures the app's memory and file descriptors
 * apart from the bench's own browsers' drivers and sockets. Talks to the bench over IPC:
 *
 *   ← { type: 'ready', url, operatorToken }   once the stack runs
 *   ← { type: 'failed', error }                                   when it could not start
 *   → { type: 'memory' }   answered ← { type: 'memory', heapUsed, external, arrayBuffers }
 *   → { type: 'assembly', assemblyId }   answered ← { type: 'assembly', libraryFolder, historyUrl }
 *                          (where its clips go, and its history playlist signed for the edge)
 *   → { type: 'stop' }     tears the stack down and exits
 */
import { parseAssemblyId } from '../../server/domain/ids.js';
import { setup, type Stack } from '../e2e/stack.js';

export type SoakStackReply =
  | { type: 'ready'; url: string; operatorToken: string }
  | { type: 'failed'; error: string }
  | { type: 'memory'; heapUsed: number; external: number; arrayBuffers: number }
  | { type: 'assembly'; libraryFolder: string; historyUrl: string };

export type SoakStackCommand =
  { type: 'memory' } | { type: 'assembly'; assemblyId: string } | { type: 'stop' };

/** How long the bench's signed HLS URLs stay valid: longer than any soak. */
const HLS_URL_TTL_SECONDS = 24 * 3600;

function send(reply: SoakStackReply): void {
  process.send?.(reply);
}

let stack: Stack;
try {
  // Clips are played from the app's library folder only (no URL sources in the soak).
  stack = await setup('embedded');
} catch (error) {
  send({ type: 'failed', error: String(error) });
  process.exit(1);
}
const edge = stack.delivery.edge;
if (edge === undefined) {
  send({ type: 'failed', error: 'the stack runs no local edge' });
  await stack.teardown();
  process.exit(1);
}

process.on('message', (command: SoakStackCommand) => {
  if (command.type === 'memory') {
    const usage = process.memoryUsage();
    send({
      type: 'memory',
      heapUsed: usage.heapUsed,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
    });
  } else if (command.type === 'assembly') {
    send({
      type: 'assembly',
      libraryFolder: stack.app.library.folder(parseAssemblyId(command.assemblyId)),
      historyUrl: edge.hlsUrl(command.assemblyId, 'history.m3u8', HLS_URL_TTL_SECONDS),
    });
  } else {
    void stack.teardown().finally(() => process.exit(0));
  }
});
// The bench died without saying stop: do not leave the engine, nginx and ffmpeg running.
process.on('disconnect', () => void stack.teardown().finally(() => process.exit(0)));

send({
  type: 'ready',
  url: stack.app.url,
  operatorToken: stack.operatorToken,
});
