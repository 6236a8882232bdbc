/**
 * What every page does first: read its token from the invite link, connect to the signaling
 * server with it, and report on the page whether that worked. The pages themselves (camera,
 * studio, panel, watch) build on this in later issues.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  WireErrorBody,
} from '../../../server/signaling/events.js';

export type SignalingSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

function setStatus(text: string): void {
  const status = document.getElementById('status');
  if (status !== null) status.textContent = text;
}

export function connect(): SignalingSocket {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const assembly = document.body.dataset.assembly;
  const socket: SignalingSocket = io({
    auth: { token, ...(assembly !== undefined && assembly !== '*' ? { assembly } : {}) },
  });
  socket.on('welcome', (welcome) => {
    setStatus(`Connected to “${welcome.assembly.name}” as ${welcome.you.role}.`);
  });
  socket.on('connect_error', (error: Error & { data?: WireErrorBody }) => {
    setStatus(`Cannot connect: ${error.data?.message ?? error.message}`);
  });
  socket.on('assembly:deleted', () => setStatus('This assembly was deleted.'));
  return socket;
}
