import type { Socket } from 'node:net';

/**
 * node-media-server writes every message to every reader (an edge it pushes to, a rendition
 * encoder or edge that plays) at the publisher's pace. A reader that falls behind (a stalled
 * ffmpeg, a slow link) makes Node queue what the socket cannot take, without limit: a soak run
 * found 47 MB queued for one rendition encoder. A live reader that far behind is of no use, so
 * past `maxBacklogBytes` unsent its connection is dropped; it reconnects and starts again from
 * the next keyframe, as after any other loss of its connection.
 */
export const DEFAULT_MAX_READER_BACKLOG_BYTES = 8 * 1024 * 1024;

/** True (and the socket destroyed, `onDropped` told) when `socket` has too much unsent. */
export function overBacklog(
  socket: Socket,
  maxBacklogBytes: number,
  onDropped: (backlogBytes: number) => void,
): boolean {
  const backlog = socket.writableLength;
  if (backlog <= maxBacklogBytes) return false;
  socket.destroy();
  onDropped(backlog);
  return true;
}
