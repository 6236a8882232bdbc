/**
 * Backstage, live, ended: the assembly's phase as the crew sees and changes it (the panel and
 * the studio). Backstage nothing reaches the audience: cameras join and the crew rehearses on the
 * monitors. Go live starts the delivery to the viewers (and the recording, when it is on); End
 * closes the assembly for good. The server owns the phase (`assembly:updated`).
 */
import type { AssemblyWire, PhaseWire } from '../../../server/signaling/events.js';
import { request, type SignalingSocket } from './connect.js';
import { errorMessage, h, Notice } from './dom.js';

const LOOKS: Record<PhaseWire, { text: string; tone: string; help: string }> = {
  backstage: {
    text: 'BACKSTAGE',
    tone: 'warn',
    help: 'Rehearsal: viewers see a “starting soon” slate, nothing is broadcast or recorded.',
  },
  live: { text: '● LIVE', tone: 'live', help: 'Viewers see the program.' },
  ended: { text: 'ENDED', tone: 'bad', help: 'The assembly has ended.' },
};

export class PhaseControl {
  readonly element: HTMLElement;
  readonly #socket: SignalingSocket;
  readonly #pill = h('span', { class: 'pill', id: 'phase', role: 'status' });
  readonly #help = h('span', { class: 'muted small grow' });
  readonly #goLive = h(
    'button',
    { type: 'button', class: 'primary', id: 'go-live', hidden: true },
    'Go live',
  );
  readonly #end = h(
    'button',
    { type: 'button', class: 'danger', id: 'end-assembly', hidden: true },
    'End assembly',
  );
  readonly #notice = new Notice('assertive');
  #phase: PhaseWire | undefined;
  /** Told of every phase the server reports (the pages disable what no longer applies). */
  onPhase: (phase: PhaseWire) => void = () => undefined;

  constructor(socket: SignalingSocket) {
    this.#socket = socket;
    this.#goLive.addEventListener('click', () => void this.#change('assembly:golive'));
    this.#end.addEventListener('click', () => {
      if (!confirm('End the assembly for everyone? Viewers are told it has ended.')) return;
      void this.#change('assembly:end');
    });
    socket.on('welcome', ({ assembly }) => this.show(assembly));
    socket.on('assembly:updated', (assembly) => this.show(assembly));
    this.element = h(
      'div',
      { class: 'stack' },
      h(
        'div',
        { class: 'row', style: 'align-items:center' },
        this.#pill,
        this.#help,
        this.#goLive,
        this.#end,
      ),
      this.#notice.element,
    );
  }

  get phase(): PhaseWire | undefined {
    return this.#phase;
  }

  show(assembly: AssemblyWire): void {
    // A server from before phases sends none: its assemblies are live from the start.
    const phase = assembly.phase ?? 'live';
    const look = LOOKS[phase];
    this.#phase = phase;
    this.#pill.textContent = look.text;
    this.#pill.className = `pill ${look.tone}`;
    this.#pill.dataset.phase = phase;
    this.#help.textContent =
      phase === 'backstage' && assembly.recording
        ? `${look.help} Recording starts at Go live.`
        : look.help;
    this.#goLive.hidden = phase !== 'backstage';
    this.#end.hidden = phase === 'ended';
    this.onPhase(phase);
  }

  async #change(event: 'assembly:golive' | 'assembly:end'): Promise<void> {
    this.#goLive.disabled = true;
    this.#end.disabled = true;
    try {
      this.show(await request(this.#socket, event, {}));
      this.#notice.clear();
    } catch (error) {
      const what = event === 'assembly:golive' ? 'go live' : 'end the assembly';
      this.#notice.show(`Could not ${what}: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#goLive.disabled = false;
      this.#end.disabled = false;
    }
  }
}
