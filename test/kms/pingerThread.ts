/**
 * A worker thread that pings the engine over its own WebSocket session, one ping after the
 * other with 2 ms between them. It records round trips (in milliseconds) from the parent's
 * `start` to its `stop`, then posts them; the pings before `start` warm it up, so its own
 * start (loading code, the first connection) is not counted. It runs on a thread of its own so
 * that what it measures is the engine's answer time, not the test's event loop, which is busy
 * with the clients of the burst.
 */
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const url = (workerData as { url: string }).url;
const port = parentPort;
if (!port) throw new Error('pingerThread runs only as a worker thread');

// What is measured is the engine's answer, so this thread must not itself wait for a core behind
// the other programs on a loaded machine: it takes the priority the engine gives its own
// protocol thread (kms/src/Engine.ts), where the OS allows it (root, as on these machines).
try {
  os.setPriority(os.getPriority() - 5);
} catch {
  // Not permitted: the round trips then include this thread's own waits for a core.
}

const socket = new WebSocket(url);
const roundTrips: number[] = [];
/** When each recorded ping was sent, in ms after `start`: says which phase a slow one hit. */
const sentOffsets: number[] = [];
let startedAt = 0;
let recording = false;
let stopping = false;
let nextId = 1;
let sentAt = 0;

function sendPing(): void {
  sentAt = performance.now();
  socket.send(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'ping' }));
}

socket.on('open', sendPing);
socket.on('message', () => {
  const roundTrip = performance.now() - sentAt;
  if (recording) {
    roundTrips.push(roundTrip);
    sentOffsets.push(sentAt - startedAt);
  }
  if (nextId === 2) port.postMessage({ type: 'ready' });
  if (stopping) {
    port.postMessage({ type: 'result', roundTrips, sentOffsets });
    socket.close();
    return;
  }
  setTimeout(sendPing, 2);
});
socket.on('error', (error) => port.postMessage({ type: 'error', message: error.message }));
port.on('message', (message: 'start' | 'stop') => {
  if (message === 'start') {
    recording = true;
    startedAt = performance.now();
  } else stopping = true;
});
