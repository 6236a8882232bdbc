/**
 * The moderator's control panel for one assembly: the program monitor with the audience
 * (viewer count, reactions) and a card per concern (cameras, layout, recording, invite links,
 * video library). This class connects, keeps what the server says (presence, program, the
 * assembly's settings) and hands it to the cards; each card owns its controls and requests.
 */
import type { AssemblyWire, ProgramWire } from '../../../server/signaling/events.js';
import { connect, setAssemblyName, type SignalingSocket } from '../lib/connect.js';
import { appRoot, h, replaceChildren } from '../lib/dom.js';
import { ProgramMonitor } from '../lib/monitor.js';
import { CameraRoster, describeProgram } from '../lib/program.js';
import { PhaseControl } from '../lib/phase.js';
import { followReactionTotals, ReactionTotals } from '../lib/reactions.js';
import type { AssembliesCard } from './AssembliesCard.js';
import { ArchiveCard } from './ArchiveCard.js';
import { CamerasCard } from './CamerasCard.js';
import { card } from './card.js';
import { DiskWarnings } from './DiskWarnings.js';
import { InvitesCard } from './InvitesCard.js';
import { LayoutCard } from './LayoutCard.js';
import { LibraryCard } from './LibraryCard.js';
import { RecordingCard } from './RecordingCard.js';

export class PanelPage {
  readonly #socket: SignalingSocket;
  readonly #monitor: ProgramMonitor;
  readonly #roster = new CameraRoster();
  readonly #totals = new ReactionTotals();
  readonly #viewerCount = h('span', { class: 'big-number', id: 'viewer-count' }, '–');
  readonly #programText = h('p', { class: 'muted', 'aria-live': 'polite' });
  readonly #cameras: CamerasCard;
  readonly #layout: LayoutCard;
  readonly #recording: RecordingCard;
  readonly #invites: InvitesCard;
  readonly #library: LibraryCard;
  readonly #archive: ArchiveCard;
  readonly #phase: PhaseControl;
  readonly #disk: DiskWarnings;
  #program: ProgramWire = { kind: 'composite' };
  /** "phase:recording" as last shown, to tell when the archive changes. */
  #recordingState: string | undefined;

  constructor(assemblyId: string, assemblies: AssembliesCard) {
    this.#socket = connect({ assembly: assemblyId });
    this.#monitor = new ProgramMonitor(this.#socket);
    // "Also revoke its link" after removing a camera revokes through the invites card, whose
    // list then shows it revoked.
    this.#cameras = new CamerasCard(this.#socket, this.#roster, (inviteId) =>
      this.#invites.revoke(inviteId),
    );
    this.#layout = new LayoutCard(this.#socket, this.#roster);
    this.#recording = new RecordingCard(this.#socket);
    this.#invites = new InvitesCard(assemblyId);
    this.#library = new LibraryCard(assemblyId, this.#socket);
    this.#archive = new ArchiveCard(assemblyId);
    this.#phase = new PhaseControl(this.#socket);
    this.#disk = new DiskWarnings(this.#socket);
    this.#render(assemblies);

    this.#socket.on('welcome', (welcome) => {
      this.#roster.reset(welcome.participants);
      this.#program = welcome.program;
      this.#setAssembly(welcome.assembly);
      // A server from before viewer counting sends no figure.
      if (typeof welcome.viewers === 'number') {
        this.#viewerCount.textContent = String(welcome.viewers);
      }
      // A server from before the choice of cameras sends none: every camera is shown.
      this.#layout.showChoice(welcome.layoutCameras ?? null);
      this.#renderCameras();
      void this.#library.load();
      void this.#invites.load();
      void this.#archive.load();
    });
    this.#socket.on('assembly:updated', (assembly) => this.#setAssembly(assembly));
    this.#socket.on('participant:joined', (participant) => {
      this.#roster.add(participant);
      this.#renderCameras();
    });
    this.#socket.on('participant:updated', (participant) => {
      this.#roster.add(participant);
      this.#renderCameras();
    });
    this.#socket.on('layout:changed', ({ cameras }) => this.#layout.showChoice(cameras));
    this.#socket.on('participant:left', ({ id }) => {
      if (this.#roster.removeParticipant(id)) this.#renderCameras();
    });
    this.#socket.on('program:changed', ({ source }) => {
      this.#program = source;
      this.#renderCameras();
    });
    this.#socket.on('viewers:count', ({ count }) => {
      this.#viewerCount.textContent = String(count);
    });
    this.#socket.on('disconnect', () => this.#renderCameras());
    followReactionTotals(this.#socket, this.#totals);
  }

  #render(assemblies: AssembliesCard): void {
    this.#monitor.element.append(this.#monitor.muteButton);
    this.#monitor.muteButton.classList.add('badge', 'right');
    this.#monitor.muteButton.style.top = 'auto';
    this.#monitor.muteButton.style.bottom = '0.6rem';
    replaceChildren(
      appRoot(),
      h(
        'div',
        { class: 'layout panel' },
        this.#disk.element,
        card(
          'program',
          'Program and audience',
          this.#phase.element,
          this.#monitor.element,
          this.#programText,
          h(
            'div',
            { class: 'row', style: 'justify-content:space-between' },
            h('div', {}, h('div', { class: 'muted small' }, 'Viewers'), this.#viewerCount),
            this.#totals.element,
          ),
        ),
        this.#cameras.element,
        this.#layout.element,
        this.#recording.element,
        this.#archive.element,
        this.#invites.element,
        this.#library.element,
        assemblies.element,
      ),
    );
    this.#renderCameras();
  }

  #setAssembly(assembly: AssemblyWire): void {
    // Going live, ending or turning recording on or off starts or finishes a recording: the
    // archive lists it.
    const shown = `${assembly.phase}:${String(assembly.recording)}`;
    if (this.#recordingState !== undefined && this.#recordingState !== shown) {
      void this.#archive.load();
    }
    this.#recordingState = shown;
    setAssemblyName(assembly.name);
    this.#layout.showAssembly(assembly);
    this.#recording.show(assembly);
  }

  #renderCameras(): void {
    this.#programText.textContent = `On the program: ${describeProgram(this.#program, this.#roster)}.`;
    this.#cameras.program = this.#program;
    this.#cameras.render();
    this.#layout.render();
  }
}
