import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';

/** What the viewers of one load process measured during one window. */
export class ViewerRecorder {
  recording = false;
  ttfbMs: number[] = [];
  errors = new Map<string, number>();
  bytes = 0;
  requests = 0;

  reset(): void {
    this.ttfbMs = [];
    this.errors = new Map();
    this.bytes = 0;
    this.requests = 0;
  }

  ttfb(ms: number, bytes: number): void {
    if (!this.recording) return;
    this.ttfbMs.push(ms);
    this.bytes += bytes;
    this.requests++;
  }

  error(kind: string): void {
    if (!this.recording) return;
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    this.requests++;
  }
}

interface Response {
  status: number;
  body: Buffer | undefined;
}

/** No first byte within this long is an error (and the connection is replaced). */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Every socket of the process reads into this one buffer (`onread`): fragments are counted,
 * not kept, so no buffer is allocated per chunk, and the load generator stays cheap next to
 * the server it measures. Callbacks run one at a time, so sharing it is safe; what is kept
 * (response heads, playlists) is copied out.
 */
const READ_BUFFER = Buffer.alloc(256 * 1024);

/**
 * One simulated HLS viewer, paced the way hls.js paces a live stream: it loads the live
 * playlist every target duration (half of it when nothing new appeared), then each fragment it
 * has not loaded yet, once, one request at a time on one keep-alive connection, asking for gzip
 * as a browser does. Time to first byte (request written → first response byte) of every
 * request goes to the recorder.
 *
 * The HTTP/1.1 client is the least that nginx's answers need (a status line, headers with
 * Content-Length), so that thousands of viewers fit on one core of the load generator.
 */
export class HlsViewer {
  private socket: Socket | undefined;
  private connected: Promise<void> | undefined;
  private stopped = false;
  /** The response being read: its parser state and what to do with it when complete. */
  private pending:
    | {
        sentAt: number;
        firstByteAt: number;
        head: Buffer;
        bodyLength: number;
        received: number;
        keep: Buffer[] | undefined;
        status: number;
        close: boolean;
        gzip: boolean;
        resolve(response: Response): void;
        reject(error: Error): void;
        timer: NodeJS.Timeout;
      }
    | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** `/hls/STREAM/`; the viewer loads `live.m3u8` and the fragments below it. */
    private readonly directory: string,
    private readonly recorder: ViewerRecorder,
  ) {}

  /** Starts watching after `delayMs` (viewers join at different moments). */
  start(delayMs: number): void {
    void this.run(delayMs);
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }

  private async run(delayMs: number): Promise<void> {
    await sleep(delayMs);
    let last: string | undefined;
    while (!this.stopped) {
      const started = performance.now();
      let wait = 1000;
      try {
        const playlist = await this.get(`${this.directory}live.m3u8`, true);
        const { names, target } = readLivePlaylist(playlist.body);
        wait = target * 1000;
        // A new viewer starts at the live edge; then every fragment once, in order.
        const at = last === undefined ? -1 : names.indexOf(last);
        const fresh = at < 0 ? names.slice(-1) : names.slice(at + 1);
        if (fresh.length === 0) wait = target * 500;
        for (const name of fresh) {
          if (this.stopped) return;
          await this.get(`${this.directory}${name}`, false);
          last = name;
        }
      } catch (error) {
        if (this.stopped) return;
        this.recorder.error(error instanceof Error ? error.message : String(error));
        this.socket?.destroy();
        this.socket = undefined;
      }
      await sleep(Math.max(0, started + wait - performance.now()));
    }
  }

  private connect(): Promise<void> {
    if (this.socket !== undefined && this.connected !== undefined) return this.connected;
    // Node reads into `onread.buffer` when the option reaches the constructor (its typings
    // list it for connect() only, where Node 20 ignores it).
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array) => {
          this.onData(Buffer.from(buffer.buffer, buffer.byteOffset, length));
          return true;
        },
      },
    };
    const socket = new Socket(options);
    socket.setNoDelay(true);
    this.socket = socket;
    this.connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (error) => reject(new Error(`connect ${error.message}`)));
    });
    socket.on('error', (error) => this.fail(new Error(`socket ${error.message}`)));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.fail(new Error('closed'));
    });
    socket.connect(this.port, this.host);
    return this.connected;
  }

  private async get(path: string, keep: boolean): Promise<Response> {
    await this.connect();
    const socket = this.socket;
    if (socket === undefined) throw new Error('closed');
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error('timeout')), REQUEST_TIMEOUT_MS);
      this.pending = {
        sentAt: performance.now(),
        firstByteAt: 0,
        head: Buffer.alloc(0),
        bodyLength: -1,
        received: 0,
        keep: keep ? [] : undefined,
        status: 0,
        close: false,
        gzip: false,
        resolve,
        reject,
        timer,
      };
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${this.host}\r\nAccept-Encoding: gzip\r\n` +
          'Connection: keep-alive\r\n\r\n',
      );
    });
  }

  private fail(error: Error): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    this.socket?.destroy();
    this.socket = undefined;
    pending.reject(error);
  }

  private onData(chunk: Buffer): void {
    const pending = this.pending;
    if (pending === undefined) return;
    if (pending.firstByteAt === 0) pending.firstByteAt = performance.now();
    let body = chunk;
    if (pending.bodyLength < 0) {
      // Copied: the chunk lives in the shared read buffer.
      const head = Buffer.concat([pending.head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        pending.head = head;
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      pending.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
      pending.close = /\r\nconnection:\s*close/i.test(text);
      if (length === undefined) {
        this.fail(new Error(`no Content-Length (${pending.status})`));
        return;
      }
      pending.bodyLength = Number(length);
      pending.gzip = /\r\ncontent-encoding:\s*gzip/i.test(text);
      body = head.subarray(end + 4);
    }
    pending.received += body.length;
    pending.keep?.push(Buffer.from(body));
    if (pending.received < pending.bodyLength) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    if (pending.close) {
      this.socket?.destroy();
      this.socket = undefined;
    }
    if (pending.status !== 200) {
      pending.reject(new Error(`status ${pending.status}`));
      return;
    }
    this.recorder.ttfb(pending.firstByteAt - pending.sentAt, pending.received);
    let kept = pending.keep === undefined ? undefined : Buffer.concat(pending.keep);
    if (kept !== undefined && pending.gzip) kept = gunzipSync(kept);
    pending.resolve({ status: pending.status, body: kept });
  }
}

/** Fragment names and target duration of a live playlist. */
function readLivePlaylist(body: Buffer | undefined): { names: string[]; target: number } {
  const text = body?.toString('utf8') ?? '';
  const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? 1);
  const names = text.split('\n').filter((line) => line.endsWith('.ts'));
  if (names.length === 0) throw new Error('empty playlist');
  return { names, target: Math.max(1, target) };
}
