/**
 * The server's media disks running out of space: one warning per folder (the recordings, the
 * live video's HLS), with its free space, shown above the cards until the space is back. The
 * server sends the list in `welcome` (a panel opened later shows it too) and whenever it changes
 * (`disk:warnings`).
 */
import type { DiskWarningWire } from '../../../server/signaling/events.js';
import type { SignalingSocket } from '../lib/connect.js';
import { h, replaceChildren } from '../lib/dom.js';

function describe(warning: DiskWarningWire): string {
  const what =
    warning.kind === 'recordings'
      ? `The recordings disk (${warning.path}) has ${warning.freeMb} MB free`
      : `The live video (HLS) disk (${warning.path}) has ${warning.freeMb} MB free`;
  const then =
    warning.kind === 'recordings'
      ? 'recording stops when it is full'
      : 'viewers stop getting new video when it is full';
  return `${what}, under the ${warning.thresholdMb} MB warning level: free some space; ${then}.`;
}

export class DiskWarnings {
  readonly element = h('div', {
    id: 'disk-warnings',
    class: 'stack',
    role: 'alert',
    hidden: true,
  });

  constructor(socket: SignalingSocket) {
    socket.on('welcome', (welcome) => this.show(welcome.diskWarnings ?? []));
    socket.on('disk:warnings', ({ warnings }) => this.show(warnings));
  }

  show(warnings: readonly DiskWarningWire[]): void {
    replaceChildren(
      this.element,
      ...warnings.map((warning) =>
        h(
          'p',
          { class: 'notice', 'data-tone': 'warn', 'data-kind': warning.kind },
          describe(warning),
        ),
      ),
    );
    this.element.hidden = warnings.length === 0;
  }
}
