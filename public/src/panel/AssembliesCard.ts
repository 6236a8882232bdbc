/** The assemblies this token can see, with a form that creates one (the panel's first card). */
import type { AssemblyWire } from '../../../server/signaling/events.js';
import { api } from '../lib/api.js';
import { pageAssembly, pageToken } from '../lib/connect.js';
import { errorMessage, h, Notice, replaceChildren } from '../lib/dom.js';
import { card, linkRow } from './card.js';

export class AssembliesCard {
  readonly element: HTMLElement;
  readonly #list = h('ul', { class: 'list', id: 'assembly-list', 'aria-label': 'Assemblies' });
  readonly #name = h('input', {
    type: 'text',
    id: 'assembly-name-input',
    maxlength: 200,
    placeholder: 'Friday assembly',
    autocomplete: 'off',
  });
  readonly #create = h('button', { type: 'submit', class: 'primary' }, 'Create');
  readonly #notice = new Notice();
  readonly #created = h('ul', { class: 'list', 'aria-label': 'New assembly link' });
  /** The assembly this panel manages, marked in the list. */
  current: string | undefined;

  constructor(current: string | undefined) {
    this.current = current;
    const form = h(
      'form',
      { class: 'row', style: 'align-items:flex-end' },
      h('label', { class: 'field', for: 'assembly-name-input' }, 'New assembly', this.#name),
      this.#create,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#createAssembly();
    });
    // Operators also run the edge fleet, on its own page.
    const fleet =
      pageAssembly() === '*'
        ? h(
            'div',
            { class: 'row' },
            h(
              'a',
              {
                class: 'button small',
                id: 'edge-fleet-link',
                href: `/operator?token=${encodeURIComponent(pageToken())}`,
              },
              'Edge fleet ›',
            ),
          )
        : null;
    this.element = card(
      'assemblies',
      'Assemblies',
      this.#list,
      form,
      this.#notice.element,
      this.#created,
      fleet,
    );
  }

  /** Loads the list; resolves with the ids, in the server's order. */
  async load(): Promise<AssemblyWire[]> {
    let assemblies: AssemblyWire[];
    try {
      assemblies = (await api<{ assemblies: AssemblyWire[] }>('GET', '/api/assemblies')).assemblies;
    } catch (error) {
      this.#notice.show(`Could not list the assemblies: ${errorMessage(error)}`, 'bad');
      return [];
    }
    const operator = pageAssembly() === '*';
    replaceChildren(
      this.#list,
      ...(assemblies.length > 0
        ? assemblies.map((assembly) => {
            const current = assembly.id === this.current;
            const url = `/panel?token=${encodeURIComponent(pageToken())}&assembly=${encodeURIComponent(assembly.id)}`;
            return h(
              'li',
              { 'aria-current': current ? 'true' : undefined },
              h(
                'span',
                { class: 'grow' },
                h('strong', {}, assembly.name),
                ' ',
                h('span', { class: 'muted small' }, assembly.id),
              ),
              assembly.recording ? h('span', { class: 'pill live' }, 'REC') : null,
              assembly.publicWatch === true && !operator
                ? h('span', { class: 'pill warn' }, 'PUBLIC')
                : null,
              operator ? this.#publicToggle(assembly) : null,
              current
                ? h('span', { class: 'pill ok' }, 'open here')
                : operator
                  ? h('a', { class: 'button small', href: url }, 'Manage')
                  : null,
            );
          })
        : [h('li', { class: 'empty' }, 'No assemblies yet.')]),
    );
    return assemblies;
  }

  /**
   * An operator's switch for a public event: anyone with the assembly's id may then watch it
   * without a viewer token (the edges still check the signed HLS URLs the watch API hands out).
   */
  #publicToggle(assembly: AssemblyWire): HTMLElement {
    const on = assembly.publicWatch === true;
    const button = h(
      'button',
      {
        type: 'button',
        class: on ? 'small warn' : 'small',
        'aria-pressed': on ? 'true' : 'false',
        'data-public-watch': assembly.id,
        title: on
          ? 'Anyone with this assembly’s id may watch it. Click to require a viewer link again.'
          : 'Only people with a viewer link may watch. Click to open it to everyone (a public event).',
      },
      on ? 'Public' : 'Links only',
    );
    button.addEventListener('click', () => {
      button.disabled = true;
      void api<{ assembly: AssemblyWire }>(
        'PUT',
        `/api/assemblies/${encodeURIComponent(assembly.id)}/public-watch`,
        { publicWatch: !on },
      )
        .then(({ assembly: changed }) => {
          this.#notice.show(
            changed.publicWatch === true
              ? `“${changed.name}” is public: anyone with its id may watch.`
              : `“${changed.name}” needs a viewer link again.`,
            'ok',
          );
          return this.load();
        })
        .catch((error: unknown) => {
          button.disabled = false;
          this.#notice.show(`Could not change who may watch: ${errorMessage(error)}`, 'bad');
        });
    });
    return button;
  }

  async #createAssembly(): Promise<void> {
    const name = this.#name.value.trim();
    if (name === '') {
      this.#notice.show('Give the assembly a name.', 'warn');
      this.#name.focus();
      return;
    }
    this.#create.disabled = true;
    try {
      const { assembly, moderatorInvite } = await api<{
        assembly: AssemblyWire;
        moderatorInvite: { url: string };
      }>('POST', '/api/assemblies', { name });
      this.#name.value = '';
      this.#notice.show(`“${assembly.name}” created. Its moderator link:`, 'ok');
      replaceChildren(this.#created, linkRow('moderator', moderatorInvite.url));
      await this.load();
    } catch (error) {
      this.#notice.show(`Could not create the assembly: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#create.disabled = false;
    }
  }
}
