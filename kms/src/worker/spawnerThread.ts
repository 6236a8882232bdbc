/**
 * The thread behind Spawner (see Spawner.ts): it runs child_process.spawn, which blocks its
 * caller until the new process has exec'd (tens to hundreds of milliseconds on a loaded
 * machine), so that this wait never stalls the engine's event loop.
 *
 * For each spawn it opens two connections to the Spawner's Unix socket, introduces each with
 * `<token> protocol` or `<token> stderr`, hands them to the worker as fd 3 and 4 (protocol) and
 * fd 2 (stderr), and closes its own copies: from then on the worker talks to the main thread
 * directly and this thread only reports the pid and, later, the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { SpawnerRequest, SpawnerReply } from './Spawner.js';

const { socketPath, priority } = workerData as { socketPath: string; priority: number };
const port = parentPort;
if (!port) throw new Error('spawnerThread runs only as a worker thread');

// Workers inherit this thread's priority. A thread inherits its creator's, which may be the
// engine's raised protocol priority; the media workers run at the normal one.
try {
  if (os.getPriority() !== priority) os.setPriority(priority);
} catch (error) {
  process.stderr.write(`media worker spawner: cannot set its priority: ${String(error)}\n`);
}

const children = new Map<string, ChildProcess>();

function reply(message: SpawnerReply): void {
  port?.postMessage(message);
}

/** Connects to the Spawner's socket and writes the introduction line, waiting until it is sent. */
function introduce(token: string, role: 'protocol' | 'stderr'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(`${token} ${role}\n`, (error) => {
        if (error) reject(error);
        else resolve(socket);
      });
    });
  });
}

async function spawnWorker(token: string, command: string, args: string[]): Promise<void> {
  let protocol: Socket | undefined;
  let stderr: Socket | undefined;
  try {
    protocol = await introduce(token, 'protocol');
    stderr = await introduce(token, 'stderr');
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', stderr, protocol, protocol],
    });
    children.set(token, child);
    child.once('error', (error) => {
      children.delete(token);
      reply({ type: 'spawnFailed', token, message: error.message });
    });
    child.once('exit', (code, signal) => {
      children.delete(token);
      reply({ type: 'exit', token, code, signal });
    });
    if (child.pid !== undefined) reply({ type: 'spawned', token, pid: child.pid });
  } catch (error) {
    reply({ type: 'spawnFailed', token, message: (error as Error).message });
  } finally {
    // The worker holds its own copies now; ours would keep the connections open after it exits.
    protocol?.destroy();
    stderr?.destroy();
  }
}

port.on('message', (message: SpawnerRequest) => {
  if (message.type === 'spawn') {
    void spawnWorker(message.token, message.command, message.args);
  } else {
    children.get(message.token)?.kill(message.signal);
  }
});
