import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file's place in dist/test/helpers. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The media engine running as its own process, exactly as `npm run kms` starts it. */
export interface EngineProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Stops the engine and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node dist/kms/src/main.js` on a free loopback port and resolves once it accepts
 * WebSocket connections (it prints its URL when it listens), instead of sleeping.
 */
export async function startEngineProcess(
  extraEnv: Record<string, string> = {},
  /** Runs the engine through a wrapper (for example `unshare`), given the command it wraps. */
  wrap: (command: string[]) => string[] = (command) => command,
): Promise<EngineProcess> {
  const port = await freePort();
  const [program = process.execPath, ...args] = wrap([
    process.execPath,
    path.join(REPO_ROOT, 'dist/kms/src/main.js'),
  ]);
  const child = spawn(program, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      KMS_HOST: '127.0.0.1',
      KMS_PORT: String(port),
      KMS_ICE_ADDRESSES: '127.0.0.1',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = `ws://127.0.0.1:${port}/kurento`;
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${output}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${String(code)} before listening: ${output}`));
    });
  });
  const pid = child.pid ?? 0;
  return {
    url,
    pid,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Pids of the montage-worker processes whose parent is `parentPid`. */
export async function workerPids(parentPid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may contain spaces; fields follow the last ')'.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const state = fields[0];
      const ppid = Number(fields[1]);
      if (name === 'montage-worker' && ppid === parentPid && state !== 'Z')
        pids.push(Number(entry));
    } catch {
      // The process ended between readdir and readFile; it is not a live worker.
    }
  }
  return pids;
}

/** Total CPU time (user + system, in clock ticks) of a process and, optionally, its children. */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of /proc/PID/stat (utime, stime) are 11 and 12 after the name.
  return Number(fields[11]) + Number(fields[12]);
}
