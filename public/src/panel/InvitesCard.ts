/**
 * Invite links of the assembly: every link handed out (role, label, whether it still works), a
 * form that mints one per role with an optional label ("Room 12": a camera joins under it), a
 * QR code of a link for a classroom device to scan, and Revoke, which refuses the link's token
 * from then on and disconnects the pages opened with it.
 */
import QRCode from 'qrcode';
import { api } from '../lib/api.js';
import { pageToken } from '../lib/connect.js';
import { copyText, errorMessage, h, Notice, replaceChildren } from '../lib/dom.js';
import { card } from './card.js';

const INVITE_ROLES = [
  { value: 'camera', label: 'Camera' },
  { value: 'presenter', label: 'Presenter' },
  { value: 'viewer', label: 'Viewer' },
  { value: 'moderator', label: 'Moderator' },
] as const;

/** The server's limit on a label's length (server/auth/inviteLabel.ts). */
const LABEL_MAX_LENGTH = 40;

/** An invite as GET /api/assemblies/:id/invites lists it. */
interface InviteView {
  id: string;
  role: string;
  url: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * "revoked", "expired", or "expires in 3 days": the largest unit the time left rounds to at
 * least one of (59.9 minutes is "1 hour", not "60 minutes").
 */
export function inviteState(invite: InviteView, now = Date.now()): string {
  if (invite.revokedAt !== null) return 'revoked';
  const left = Date.parse(invite.expiresAt) - now;
  if (!(left > 0)) return 'expired';
  const minutes = Math.max(1, Math.round(left / MINUTE_MS));
  if (minutes < 60) return `expires in ${plural(minutes, 'minute')}`;
  const hours = Math.round(left / HOUR_MS);
  if (hours < 24) return `expires in ${plural(hours, 'hour')}`;
  return `expires in ${plural(Math.round(left / DAY_MS), 'day')}`;
}

/**
 * The invite id (`jti`) of the token this panel was opened with, so that its own link is marked:
 * revoking it closes this panel too. The token is only read here, never trusted: the server
 * verifies it.
 */
function ownInviteId(): string | undefined {
  const payload = pageToken().split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const jti = (JSON.parse(json) as { jti?: unknown }).jti;
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

export class InvitesCard {
  readonly element: HTMLElement;
  readonly #assemblyId: string;
  readonly #role = h('select', { id: 'invite-role' });
  readonly #label = h('input', {
    type: 'text',
    id: 'invite-label',
    maxlength: LABEL_MAX_LENGTH,
    placeholder: 'Room 12',
    autocomplete: 'off',
  });
  readonly #create = h('button', { type: 'submit', class: 'primary' }, 'Create link');
  readonly #list = h('ul', { class: 'list', id: 'invite-list', 'aria-label': 'Invite links' });
  readonly #notice = new Notice();
  readonly #qrCanvas = h('canvas', { id: 'qr-code', 'aria-label': 'QR code of the link' });
  readonly #qrTitle = h('h2', { id: 'qr-title' });
  readonly #qrLink = h('p', { class: 'link-text qr-link', id: 'qr-link' });
  readonly #qrDialog: HTMLDialogElement;
  readonly #ownInvite = ownInviteId();

  constructor(assemblyId: string) {
    this.#assemblyId = assemblyId;
    replaceChildren(
      this.#role,
      ...INVITE_ROLES.map(({ value, label }) => h('option', { value }, label)),
    );
    const form = h(
      'form',
      { class: 'row', style: 'align-items:flex-end' },
      h('label', { class: 'field', for: 'invite-role' }, 'Link for a', this.#role),
      h('label', { class: 'field', for: 'invite-label' }, 'Label (room or person)', this.#label),
      this.#create,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#createInvite();
    });
    const close = h('button', { type: 'button' }, 'Close');
    this.#qrDialog = h(
      'dialog',
      { class: 'qr-dialog', id: 'qr-dialog', 'aria-labelledby': 'qr-title' },
      this.#qrTitle,
      h('p', { class: 'muted small' }, 'Scan it with the classroom device’s camera.'),
      this.#qrCanvas,
      this.#qrLink,
      h('div', { class: 'row' }, close),
    );
    close.addEventListener('click', () => this.#qrDialog.close());
    this.element = card(
      'invites',
      'Invite links',
      form,
      this.#notice.element,
      this.#list,
      this.#qrDialog,
    );
  }

  async load(): Promise<void> {
    let invites: InviteView[];
    try {
      invites = (
        await api<{ invites: InviteView[] }>('GET', `/api/assemblies/${this.#assemblyId}/invites`)
      ).invites;
    } catch (error) {
      this.#notice.show(`Could not list the links: ${errorMessage(error)}`, 'bad');
      return;
    }
    // Links that work first, newest first; then the expired and revoked ones, for the record.
    const now = Date.now();
    const works = (invite: InviteView): boolean =>
      invite.revokedAt === null && Date.parse(invite.expiresAt) > now;
    const sorted = [...invites].sort(
      (a, b) => Number(works(b)) - Number(works(a)) || b.createdAt.localeCompare(a.createdAt),
    );
    replaceChildren(
      this.#list,
      ...(sorted.length > 0
        ? sorted.map((invite) => this.#row(invite, works(invite), now))
        : [h('li', { class: 'empty' }, 'No links yet.')]),
    );
  }

  /**
   * Revokes an invite (from this card, or the cameras card's "Also revoke its link") and lists
   * the links again. Rejects with the server's reason.
   */
  async revoke(inviteId: string): Promise<void> {
    await api(
      'POST',
      `/api/assemblies/${this.#assemblyId}/invites/${encodeURIComponent(inviteId)}/revoke`,
    );
    await this.load();
  }

  #row(invite: InviteView, works: boolean, now: number): HTMLLIElement {
    const name =
      invite.label === null ? `${invite.role} link` : `${invite.role} link “${invite.label}”`;
    const own = invite.id === this.#ownInvite;
    const copy = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `Copy ${name}` },
      'Copy',
    );
    copy.addEventListener('click', () => {
      void copyText(invite.url).then((ok) => {
        copy.textContent = ok ? 'Copied' : 'Copy failed';
        setTimeout(() => (copy.textContent = 'Copy'), 2000);
      });
    });
    const qr = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `QR code of ${name}` },
      'QR code',
    );
    qr.addEventListener('click', () => void this.#showQr(invite, name));
    const revoke = h(
      'button',
      { type: 'button', class: 'small danger', 'aria-label': `Revoke ${name}` },
      'Revoke',
    );
    revoke.addEventListener('click', () => void this.#confirmRevoke(invite, name, own));
    const state = inviteState(invite, now);
    return h(
      'li',
      { 'data-invite': invite.id, 'data-state': works ? 'active' : state },
      h('span', { class: 'pill' }, invite.role),
      invite.label === null ? null : h('strong', { class: 'invite-label' }, invite.label),
      h('span', { class: works ? 'pill ok' : 'pill warn' }, state),
      own ? h('span', { class: 'pill' }, 'this panel') : null,
      h('span', { class: 'grow link-text', title: invite.url }, invite.url),
      ...(works
        ? [
            copy,
            qr,
            h(
              'a',
              { class: 'button small', href: invite.url, target: '_blank', rel: 'noopener' },
              'Open',
            ),
            revoke,
          ]
        : []),
    );
  }

  async #createInvite(): Promise<void> {
    const label = this.#label.value.trim();
    this.#create.disabled = true;
    try {
      const { invite } = await api<{ invite: InviteView }>(
        'POST',
        `/api/assemblies/${this.#assemblyId}/invites`,
        { role: this.#role.value, ...(label === '' ? {} : { label }) },
      );
      this.#label.value = '';
      await this.load();
      const copied = await copyText(invite.url);
      const what = invite.label === null ? invite.role : `${invite.role} (${invite.label})`;
      this.#notice.show(
        copied ? `New ${what} link created and copied.` : `New ${what} link created.`,
        'ok',
        4000,
      );
    } catch (error) {
      this.#notice.show(`Could not create the link: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#create.disabled = false;
    }
  }

  async #confirmRevoke(invite: InviteView, name: string, own: boolean): Promise<void> {
    const warning = own
      ? `Revoke the ${name}? This panel was opened with it and closes too.`
      : `Revoke the ${name}? Pages opened with it are disconnected now, and it stops working.`;
    if (!confirm(warning)) return;
    try {
      await this.revoke(invite.id);
      this.#notice.show(`The ${name} was revoked.`, 'ok', 4000);
    } catch (error) {
      this.#notice.show(`Could not revoke the ${name}: ${errorMessage(error)}`, 'bad');
    }
  }

  /** The link as a QR code, with the link itself under it, for a device to scan. */
  async #showQr(invite: InviteView, name: string): Promise<void> {
    this.#qrTitle.textContent = name.charAt(0).toUpperCase() + name.slice(1);
    this.#qrLink.textContent = invite.url;
    try {
      // Error correction M survives a glare on a projected or phone screen; a link with its
      // token (~400 characters) still fits in a code that scans from across a desk at 320 px.
      await QRCode.toCanvas(this.#qrCanvas, invite.url, {
        errorCorrectionLevel: 'M',
        margin: 2,
        width: 320,
      });
    } catch (error) {
      this.#notice.show(`Could not draw the QR code: ${errorMessage(error)}`, 'bad');
      return;
    }
    if (!this.#qrDialog.open) this.#qrDialog.showModal();
  }
}
