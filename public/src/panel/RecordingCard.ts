/** Recording of the program: on/off, and what went wrong when it stopped by itself. */
import type { AssemblyWire } from '../../../server/signaling/events.js';
import { request, RequestError, type SignalingSocket } from '../lib/connect.js';
import { errorMessage, h, Notice } from '../lib/dom.js';
import { card } from './card.js';

export class RecordingCard {
  readonly element: HTMLElement;
  readonly #socket: SignalingSocket;
  readonly #button = h(
    'button',
    { type: 'button', id: 'recording-toggle', 'aria-pressed': 'false' },
    'Start recording',
  );
  readonly #notice = new Notice();
  #on = false;

  constructor(socket: SignalingSocket) {
    this.#socket = socket;
    this.#button.addEventListener('click', () => void this.#toggle());
    socket.on('recording:failed', ({ type, description }) => {
      const why =
        type === 'RESOURCE_ERROR_NO_SPACE_LEFT' ? 'the recordings disk is full' : description;
      this.#notice.show(
        `Recording stopped: ${why}. The assembly goes on; free some space, then start recording again.`,
        'bad',
      );
    });
    this.element = card(
      'recording',
      'Recording',
      h('div', { class: 'row' }, this.#button),
      this.#notice.element,
    );
  }

  /** Shows the assembly's recording setting (the server's, from welcome and assembly:updated). */
  show(assembly: AssemblyWire): void {
    this.#on = assembly.recording;
    this.#button.setAttribute('aria-pressed', String(assembly.recording));
    this.#button.textContent = assembly.recording ? '● Recording — stop' : 'Start recording';
  }

  async #toggle(): Promise<void> {
    const on = !this.#on;
    this.#button.disabled = true;
    try {
      await request(this.#socket, 'recording:set', { on });
      this.#notice.show(on ? 'Recording started.' : 'Recording stopped.', 'ok', 4000);
    } catch (error) {
      const why =
        error instanceof RequestError && error.code === 'timeout'
          ? 'the media server is not answering'
          : errorMessage(error);
      this.#notice.show(`Could not ${on ? 'start' : 'stop'} recording: ${why}`, 'bad');
    } finally {
      this.#button.disabled = false;
    }
  }
}
