/**
 * socket.io clients of the app under test, as the pages connect (WebSocket, no reconnection),
 * and the waits the signaling tests share: the welcome, and the next event that matches.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  WelcomeWire,
} from '../../server/signaling/events.js';
import type { RunningApp } from './appHelpers.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function client(running: RunningApp, auth: Record<string, string>): ClientSocket {
  return io(running.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Resolves with the welcome, or rejects with the handshake's refusal. */
export function welcome(socket: ClientSocket, timeoutMs = 10_000): Promise<WelcomeWire> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no welcome within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('welcome', (w) => {
      clearTimeout(timer);
      resolve(w);
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The arguments of the next `event` on `socket` that `accept` takes. */
export function next<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  accept: (...args: Parameters<ServerToClientEvents[E]>) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<Parameters<ServerToClientEvents[E]>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${String(event)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const listener = (...args: Parameters<ServerToClientEvents[E]>): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      socket.off(event, listener as never);
      resolve(args);
    };
    socket.on(event, listener as never);
  });
}
