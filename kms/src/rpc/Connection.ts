import type { WebSocket } from 'ws';

let nextConnectionId = 1;

/**
 * One client WebSocket. It may be bound to one session at a time; the
 * session's events go to whichever connection is bound to it (§1.3).
 */
export class Connection {
  readonly id = nextConnectionId++;
  readonly #socket: WebSocket;
  sessionId: string | undefined;

  constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  get open(): boolean {
    return this.#socket.readyState === this.#socket.OPEN;
  }

  /** KMS always answers with text frames, whatever the client sent. */
  send(message: unknown): void {
    if (!this.open) return;
    this.#socket.send(JSON.stringify(message), { binary: false }, (error) => {
      if (error) process.stderr.write(`connection ${this.id}: send failed: ${error.message}\n`);
    });
  }
}
