/**
 * Free even UDP ports for the program bridge. RTP wants an even port with RTCP on the next one,
 * and the kernel's port-0 choice cannot promise that, so candidates are drawn at random from a
 * range and tried with real binds (both the port and its successor). A port is only free at the
 * moment of the check; ffmpeg binds it a moment later, which is good enough on one machine where
 * only Montage hands out these ports.
 */
import { createSocket } from 'node:dgram';

const LOW = 30_000;
const SPAN = 10_000;

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

/** `count` distinct even ports whose successors are free too. */
export async function freeEvenUdpPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt > 500) throw new Error('no free even UDP port pair for the program bridge');
    const port = LOW + 2 * Math.floor(Math.random() * (SPAN / 2));
    if (ports.includes(port)) continue;
    if ((await canBind(port, host)) && (await canBind(port + 1, host))) ports.push(port);
  }
  return ports;
}
