/**
 * One load-generator process of `npm run bench -- edge` (test/bench/edge.ts starts several,
 * pinned to the core the server under test does not use). It runs `HlsViewer`s on the parent's
 * command and reports what they measured over IPC:
 *
 *   → { type: 'viewers', host, port, directory, count, spreadMs }  grow to `count` viewers,
 *                                                                   joining over `spreadMs`
 *   → { type: 'measure', ms }   record for `ms`, then answer ← { type: 'window', ... }
 *   → { type: 'stop' }          disconnect every viewer and exit
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HlsViewer, ViewerRecorder } from './HlsViewer.js';

export type ViewerCommand =
  | {
      type: 'viewers';
      host: string;
      port: number;
      directory: string;
      count: number;
      spreadMs: number;
    }
  | { type: 'measure'; ms: number }
  | { type: 'stop' };

export interface ViewerWindow {
  type: 'window';
  ttfbMs: number[];
  errors: Array<[string, number]>;
  bytes: number;
  requests: number;
  /** CPU time this process used during the window, and the kernel's part of it. */
  cpuMs: number;
  systemMs: number;
  /** 99th percentile of this process's event-loop delay during the window. */
  loopDelayP99Ms: number;
  viewers: number;
}

const recorder = new ViewerRecorder();
const viewers: HlsViewer[] = [];
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function send(message: ViewerWindow): void {
  process.send?.(message);
}

process.on('message', (command: ViewerCommand) => {
  if (command.type === 'viewers') {
    while (viewers.length < command.count) {
      const viewer = new HlsViewer(command.host, command.port, command.directory, recorder);
      viewer.start(Math.random() * command.spreadMs);
      viewers.push(viewer);
    }
  } else if (command.type === 'measure') {
    recorder.reset();
    recorder.recording = true;
    loopDelay.reset();
    const cpu = process.cpuUsage();
    setTimeout(() => {
      recorder.recording = false;
      const used = process.cpuUsage(cpu);
      send({
        type: 'window',
        ttfbMs: recorder.ttfbMs,
        errors: [...recorder.errors],
        bytes: recorder.bytes,
        requests: recorder.requests,
        cpuMs: (used.user + used.system) / 1000,
        systemMs: used.system / 1000,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        viewers: viewers.length,
      });
    }, command.ms);
  } else {
    for (const viewer of viewers) viewer.stop();
    process.exit(0);
  }
});

// The parent going away ends the load too.
process.on('disconnect', () => process.exit(0));
