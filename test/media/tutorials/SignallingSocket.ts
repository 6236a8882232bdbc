/** A message of the tutorials' own signalling protocol: `id` names it, the rest depends on it. */
export interface TutorialMessage {
  id: string;
  [field: string]: unknown;
}

/**
 * One end of the WebSocket between a tutorial's page and its application server, kept in the
 * test process: the tutorial's server and the page's script both run in the test, and only the
 * peer connection runs in Chromium. Messages cross as JSON text (so only what survives
 * JSON.stringify arrives, as on the wire), one at a time and in order, never synchronously, as
 * a WebSocket delivers them.
 */
export class SignallingSocket {
  #other: SignallingSocket | undefined;
  #closed = false;
  readonly #messageListeners: Array<(message: TutorialMessage) => void> = [];
  readonly #closeListeners: Array<() => void> = [];
  readonly #received: TutorialMessage[] = [];
  readonly #waiters: Array<{ id: string; resolve: (message: TutorialMessage) => void }> = [];

  /** A connected pair: the page's end and the server's end. */
  static pair(): [SignallingSocket, SignallingSocket] {
    const page = new SignallingSocket();
    const server = new SignallingSocket();
    page.#other = server;
    server.#other = page;
    return [page, server];
  }

  send(message: TutorialMessage): void {
    if (this.#closed) throw new Error(`socket closed; cannot send ${message.id}`);
    const text = JSON.stringify(message);
    const other = this.#other;
    if (other === undefined) throw new Error('socket not connected');
    setImmediate(() => other.#deliver(JSON.parse(text) as TutorialMessage));
  }

  onMessage(listener: (message: TutorialMessage) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  /** Resolves with the first message `id` received (now or earlier) that nobody took yet. */
  next(id: string, timeoutMs: number): Promise<TutorialMessage> {
    const index = this.#received.findIndex((message) => message.id === id);
    if (index >= 0) return Promise.resolve(this.#received.splice(index, 1)[0] as TutorialMessage);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no '${id}' message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        id,
        resolve: (message: TutorialMessage) => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Every message received so far that no next() took. */
  get unclaimed(): readonly TutorialMessage[] {
    return this.#received;
  }

  /** Closes both ends; each end's close listeners run, as after a WebSocket close. */
  close(): void {
    for (const end of [this, this.#other]) {
      if (end === undefined || end.#closed) continue;
      end.#closed = true;
      setImmediate(() => {
        for (const listener of end.#closeListeners) listener();
      });
    }
  }

  #deliver(message: TutorialMessage): void {
    if (this.#closed) return;
    for (const listener of this.#messageListeners) listener(message);
    const waiter = this.#waiters.find((candidate) => candidate.id === message.id);
    if (waiter !== undefined) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    } else {
      this.#received.push(message);
    }
  }
}
