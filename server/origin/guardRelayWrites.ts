import type { NmsRtmpClient, NmsRtmpClientSession } from './nodeMediaServer.js';
import { overBacklog } from './readerBacklog.js';

/**
 * node-media-server's client throws "RTMP client socket is not writable" when a packet or a
 * heartbeat is sent in the moment between an edge dropping the connection and the close event
 * that schedules the reconnect. Nothing catches it, so an edge dying would crash the app. Drop
 * such writes instead: the close event follows and the relay reconnects and resends from the
 * next keyframe.
 *
 * An edge that cannot keep up (a slow link, a stopped nginx) would also have every message
 * queued in this process without limit: past `maxBacklogBytes` unsent, the connection is
 * dropped, `onDropped` is told, and the relay reconnects and resends from the next keyframe.
 */
export function guardRelayWrites(
  push: NmsRtmpClientSession,
  maxBacklogBytes: number,
  onDropped: (backlogBytes: number) => void,
): void {
  const guard = (client: NmsRtmpClient): NmsRtmpClient => {
    client.onOutputCallback = (buffer) => {
      const socket = client.socket;
      if (socket === null || socket.destroyed || !socket.writable) return;
      if (overBacklog(socket, maxBacklogBytes, onDropped)) return;
      socket.write(buffer);
    };
    return client;
  };
  const createClient = push.createClient;
  push.createClient = () => guard(createClient());
  guard(push.rtmpClient);
}
