/** Invite links of the assembly: the links handed out, and a form that mints one per role. */
import { api } from '../lib/api.js';
import { copyText, errorMessage, h, Notice, replaceChildren } from '../lib/dom.js';
import { card, linkRow } from './card.js';

const INVITE_ROLES = [
  { value: 'camera', label: 'Camera' },
  { value: 'presenter', label: 'Presenter' },
  { value: 'viewer', label: 'Viewer' },
  { value: 'moderator', label: 'Moderator' },
] as const;

interface InviteView {
  id: string;
  role: string;
  url: string;
  expiresAt: string;
}

export class InvitesCard {
  readonly element: HTMLElement;
  readonly #assemblyId: string;
  readonly #role = h('select', { id: 'invite-role' });
  readonly #create = h('button', { type: 'button', class: 'primary' }, 'Create link');
  readonly #list = h('ul', { class: 'list', id: 'invite-list', 'aria-label': 'Invite links' });
  readonly #notice = new Notice();

  constructor(assemblyId: string) {
    this.#assemblyId = assemblyId;
    replaceChildren(
      this.#role,
      ...INVITE_ROLES.map(({ value, label }) => h('option', { value }, label)),
    );
    this.#create.addEventListener('click', () => void this.#createInvite());
    this.element = card(
      'invites',
      'Invite links',
      h(
        'div',
        { class: 'row', style: 'align-items:flex-end' },
        h('label', { class: 'field', for: 'invite-role' }, 'Link for a', this.#role),
        this.#create,
      ),
      this.#notice.element,
      this.#list,
    );
  }

  async load(): Promise<void> {
    try {
      const { invites } = await api<{ invites: InviteView[] }>(
        'GET',
        `/api/assemblies/${this.#assemblyId}/invites`,
      );
      const live = invites
        .filter((invite) => Date.parse(invite.expiresAt) > Date.now())
        .sort((a, b) => a.role.localeCompare(b.role));
      replaceChildren(
        this.#list,
        ...(live.length > 0
          ? live.map((invite) => linkRow(invite.role, invite.url))
          : [h('li', { class: 'empty' }, 'No links yet.')]),
      );
    } catch (error) {
      this.#notice.show(`Could not list the links: ${errorMessage(error)}`, 'bad');
    }
  }

  async #createInvite(): Promise<void> {
    this.#create.disabled = true;
    try {
      const { invite } = await api<{ invite: InviteView }>(
        'POST',
        `/api/assemblies/${this.#assemblyId}/invites`,
        { role: this.#role.value },
      );
      await this.load();
      const copied = await copyText(invite.url);
      this.#notice.show(
        copied ? `New ${invite.role} link created and copied.` : `New ${invite.role} link created.`,
        'ok',
        4000,
      );
    } catch (error) {
      this.#notice.show(`Could not create the link: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#create.disabled = false;
    }
  }
}
