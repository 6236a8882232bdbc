/**
 * The app of `npm run bench -- soak` in a process of its own: test/e2e/stack.ts's `setup()`
 * (the app, the origin and the local edge in this process, the engine supervised as its child,
 * as `npm start` runs them), so that the bench measures the app's memory and file descriptors
 * apart from the bench's own browsers' drivers and sockets. Talks to the bench over IPC:
 *
 *   ← { type: 'ready', url, operatorToken, edgeUrl, mediaDir }   once the stack runs
 *   ← { type: 'failed', error }                                   when it could not start
 *   → { type: 'memory' }   answered ← { type: 'memory', heapUsed, external, arrayBuffers }
 *   → { type: 'stop' }     tears the stack down and exits
 */
import { setup, type Stack } from '../e2e/stack.js';

export type SoakStackReply =
  | { type: 'ready'; url: string; operatorToken: string; edgeUrl: string; mediaDir: string }
  | { type: 'failed'; error: string }
  | { type: 'memory'; heapUsed: number; external: number; arrayBuffers: number };

export type SoakStackCommand = { type: 'memory' } | { type: 'stop' };

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
  edgeUrl: edge.httpUrl,
  mediaDir: stack.app.config.mediaDir,
});
