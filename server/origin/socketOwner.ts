/**
 * Which local process holds the client end of a loopback TCP connection, read from /proc (Linux).
 * The origin uses it to accept the app's own ffmpegs (the program bridge, rendition encoders)
 * without a key on their command line, where any local user could read it in `ps`: a
 * connection is theirs when the socket's inode is among their open file descriptors.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Whether `address` (as node-media-server reports a peer) is a loopback address. */
function isLoopback(address: string): boolean {
  const plain = address.replace(/^::ffff:/, '');
  return plain === '::1' || /^127\.\d+\.\d+\.\d+$/.test(plain);
}

/**
 * The inode of the socket whose local port is `clientPort` and remote port `serverPort`, the
 * client end of a connection to this machine's `serverPort`; undefined when there is none.
 */
function clientSocketInode(clientPort: number, serverPort: number): string | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const remote = fields[2];
      const inode = fields[9];
      if (local === undefined || remote === undefined || inode === undefined) continue;
      const localPort = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      const remotePort = parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16);
      if (localPort === clientPort && remotePort === serverPort && inode !== '0') return inode;
    }
  }
  return undefined;
}

/**
 * Whether the peer `peer` ("address:port", as node-media-server gives it) of a connection to
 * `serverPort` is a loopback connection made by process `pid`.
 */
export function peerIsProcess(peer: string, serverPort: number, pid: number): boolean {
  const colon = peer.lastIndexOf(':');
  const port = Number(peer.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || !isLoopback(peer.slice(0, colon))) return false;
  const inode = clientSocketInode(port, serverPort);
  if (inode === undefined) return false;
  const wanted = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === wanted;
    } catch {
      return false;
    }
  });
}
