/**
 * What every page does first: read its token from the invite link, connect to the signaling
 * server with it, and keep the connection pill in the header (#status) saying how that is going:
 * connecting, connected, connection lost and retrying, refused (bad token: no retry), or ended
 * by the server. `request()` sends a client event and waits for its typed ack.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  Ack,
  ClientToServerEvents,
  Reply,
  ServerToClientEvents,
  WireErrorBody,
} from '../../../server/signaling/events.js';

export type SignalingSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type ConnectionState = 'connecting' | 'connected' | 'retrying' | 'refused' | 'ended';

/** The token of this page's invite link ('' when the URL has none). */
export function pageToken(): string {
  return new URLSearchParams(location.search).get('token') ?? '';
}

/** The assembly the server rendered this page for ('*' on an operator's panel). */
export function pageAssembly(): string {
  return document.body.dataset.assembly ?? '';
}

export function pageRole(): string {
  return document.body.dataset.role ?? '';
}

export function setStatus(state: ConnectionState, text: string): void {
  const status = document.getElementById('status');
  if (status === null) return;
  status.textContent = text;
  status.dataset.state = state;
}

/** The title the server rendered ("Studio · Montage"), before any assembly name is added. */
const BASE_TITLE = document.title;

export function setAssemblyName(name: string): void {
  const element = document.getElementById('assembly-name');
  if (element !== null) element.textContent = name;
  document.title = `${name} · ${BASE_TITLE}`;
}

export interface ConnectOptions {
  /** The assembly to join; an operator's token must name one. Defaults to the page's. */
  assembly?: string;
  /** Called on every state change, after the header pill is updated. */
  onState?: (state: ConnectionState, detail: string) => void;
  /**
   * Whether to connect again by itself after the server closed the connection (true by
   * default). The server closes it when it shuts down, but also when a moderator removes a
   * camera: the camera page says so and lets the person rejoin instead.
   */
  rejoinAfterServerDisconnect?: boolean;
  /** The camera page's key for this tab (see events.ts): reconnecting reclaims the camera. */
  cameraKey?: string;
}

/** Wait before reconnecting after the server closed the connection (it may be restarting). */
const REJOIN_DELAY_MS = 3000;

/**
 * Connects with the page's token. socket.io retries dropped connections by itself; a refused
 * handshake (bad or expired token, deleted assembly) is final and says why.
 */
export function connect(options: ConnectOptions = {}): SignalingSocket {
  const token = pageToken();
  const assembly = options.assembly ?? pageAssembly();
  const socket: SignalingSocket = io({
    auth: {
      token,
      ...(assembly !== '' && assembly !== '*' ? { assembly } : {}),
      ...(options.cameraKey !== undefined ? { cameraKey: options.cameraKey } : {}),
    },
    reconnectionDelayMax: 8000,
    // WebSocket first: one round trip less, and a closed page closes its connection at once.
    // Starting on long-polling (socket.io's default), a page closed before the upgrade stayed
    // connected on the server until the heartbeat timed out. Networks that block WebSocket
    // still get long-polling.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
  });
  const report = (state: ConnectionState, text: string): void => {
    setStatus(state, text);
    options.onState?.(state, text);
  };
  report('connecting', 'Connecting…');

  socket.on('welcome', (welcome) => {
    setAssemblyName(welcome.assembly.name);
    report('connected', 'Connected');
  });
  socket.on('assembly:updated', (updated) => setAssemblyName(updated.name));
  socket.on('connect_error', (error: Error & { data?: WireErrorBody }) => {
    // socket.active stays true while socket.io will try again (a network failure); a refusal
    // by the server's handshake check leaves it false.
    if (socket.active) report('retrying', 'Connection lost, retrying…');
    else report('refused', `Cannot connect: ${error.data?.message ?? error.message}`);
  });
  // Set when the server said why it is about to close the connection for good.
  let final = false;
  socket.on('disconnect', (reason) => {
    if (reason === 'io client disconnect' || final) return;
    if (reason !== 'io server disconnect') {
      report('retrying', 'Connection lost, retrying…');
    } else if (options.rejoinAfterServerDisconnect === false) {
      report('ended', 'The server ended this connection.');
    } else {
      // socket.io does not retry a connection the server closed; a restarting server did.
      report('retrying', 'The server closed the connection; reconnecting…');
      setTimeout(() => {
        if (!socket.connected) socket.connect();
      }, REJOIN_DELAY_MS);
    }
  });
  socket.on('assembly:deleted', () => {
    final = true;
    report('ended', 'This assembly was deleted.');
  });
  socket.on('request:error', (failure) => {
    if (failure.code === 'token_expired') {
      final = true;
      report('ended', 'Your invite link expired; ask a moderator for a new one.');
    } else if (failure.code === 'token_revoked') {
      final = true;
      report('ended', 'This link was revoked; ask your teacher for a new one.');
    } else if (failure.code === 'removed') {
      final = true;
      report('ended', 'Removed by the moderator.');
    }
  });
  return socket;
}

/** A refused request: the server's `{code, message}`, or `timeout` when no answer came. */
export class RequestError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
  }
}

type ClientEvent = keyof ClientToServerEvents;
export type PayloadOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
export type DataOf<E extends ClientEvent> =
  Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/** The untyped shape of a timed emit, which the typed overloads cannot express generically. */
interface TimedEmitter {
  emit(event: string, payload: unknown, ack: (error: Error | null, reply: unknown) => void): void;
}

/**
 * Sends `event` and resolves with the ack's data, or rejects with a RequestError carrying the
 * server's code. A server that never answers (for example one whose media side is not running
 * yet) rejects with code `timeout` after `timeoutMs`.
 */
export function request<E extends ClientEvent>(
  socket: SignalingSocket,
  event: E,
  payload: PayloadOf<E>,
  timeoutMs = 10_000,
): Promise<DataOf<E>> {
  return new Promise((resolve, reject) => {
    if (!socket.connected) {
      reject(new RequestError('disconnected', 'not connected to the server'));
      return;
    }
    const timed = socket.timeout(timeoutMs) as unknown as TimedEmitter;
    timed.emit(event, payload, (error, reply) => {
      if (error !== null) {
        reject(new RequestError('timeout', 'the server did not answer in time'));
        return;
      }
      const answer = reply as Reply<DataOf<E>>;
      if (answer.ok) resolve(answer.data);
      else reject(new RequestError(answer.error.code, answer.error.message));
    });
  });
}
