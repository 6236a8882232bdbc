/**
 * The operator's page for the edge fleet: every edge with its state, health, viewers (open HTTP
 * connections), bandwidth, streams, last error and the age of its last probe, read from
 * `GET /api/edges` every two seconds; a form that adds an edge; drain, activate and remove
 * buttons (drain and remove ask for confirmation in the row); and the recent audit log. An
 * operator's token opens it (`/operator?token=`); it talks REST only, no socket.
 */
import './lib/style.css';
import './operator.css';
import type { AuditEntryWire, EdgeWire, NewEdgeWire } from '../../server/edges/wire.js';
import { api } from './lib/api.js';
import { pageToken, RequestError, setStatus } from './lib/connect.js';
import { appRoot, errorMessage, h, Notice, replaceChildren } from './lib/dom.js';

const POLL_MS = 2000;
const AUDIT_ENTRIES = 15;

/** 1 234 567 bit/s → "1.2 Mbit/s". */
function formatBitRate(bitsPerSecond: number | undefined): string {
  if (bitsPerSecond === undefined) return '–';
  if (bitsPerSecond >= 1e9) return `${(bitsPerSecond / 1e9).toFixed(1)} Gbit/s`;
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
  if (bitsPerSecond >= 1e3) return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
  return `${Math.round(bitsPerSecond)} bit/s`;
}

/** How long ago `iso` was, for people: "now", "4 s ago", "3 min ago", "2 h ago". */
function ago(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 2) return 'now';
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/**
 * A table cell that names its column, so that a phone can show each row as a card (the label,
 * then the content in one box).
 */
function cell(label: string, ...children: (Node | string | null)[]): HTMLTableCellElement {
  return h('td', { 'data-label': label }, h('div', { class: 'cell' }, ...children));
}

/** What is asked before an action is carried out, per edge. */
type Pending = 'drain' | 'remove';

class OperatorPage {
  readonly #rows = h('tbody', { id: 'edge-rows' });
  readonly #summary = h('p', { class: 'muted', id: 'fleet-summary', 'aria-live': 'polite' });
  readonly #tableNotice = new Notice('assertive');
  readonly #form = h('form', { class: 'stack', id: 'add-edge', novalidate: true });
  readonly #fields = {
    id: h('input', {
      type: 'text',
      id: 'edge-id',
      name: 'id',
      maxlength: 64,
      placeholder: 'edge1',
      autocomplete: 'off',
      spellcheck: 'false',
    }),
    publicUrl: h('input', {
      type: 'text',
      id: 'edge-public-url',
      name: 'publicUrl',
      inputmode: 'url',
      placeholder: 'https://edge1.school.example',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
    }),
    ingestUrl: h('input', {
      type: 'text',
      id: 'edge-ingest-url',
      name: 'ingestUrl',
      inputmode: 'url',
      placeholder: 'rtmp://10.0.0.21:1935/live',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
    }),
    statusUrl: h('input', {
      type: 'text',
      id: 'edge-status-url',
      name: 'statusUrl',
      inputmode: 'url',
      placeholder: 'http://10.0.0.21:8090',
      autocomplete: 'off',
      spellcheck: 'false',
    }),
  };
  readonly #addButton = h('button', { type: 'submit', class: 'primary' }, 'Add edge');
  readonly #formNotice = new Notice('assertive');
  readonly #audit = h('ul', { class: 'list', id: 'audit-list', 'aria-label': 'Recent changes' });
  readonly #auditNotice = new Notice();
  /** The confirmation each row is asking for, if any. */
  readonly #pending = new Map<string, Pending>();
  #edges: EdgeWire[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refusal = false;

  constructor() {
    this.#render();
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#add();
    });
    void this.#poll();
  }

  #render(): void {
    // The hint describes the input rather than naming it, so the input's name is its label.
    const field = (label: string, input: HTMLInputElement, hint: string): HTMLDivElement => {
      const hintId = `${input.id}-hint`;
      input.setAttribute('aria-describedby', hintId);
      return h(
        'div',
        { class: 'field' },
        h('label', { for: input.id }, label),
        input,
        h('span', { class: 'small muted', id: hintId }, hint),
      );
    };
    replaceChildren(
      this.#form,
      h(
        'div',
        { class: 'row', style: 'align-items:flex-start' },
        field('Public URL', this.#fields.publicUrl, 'Where viewers fetch /hls/… from'),
        field('Ingest URL', this.#fields.ingestUrl, 'Where the origin pushes (RTMP)'),
      ),
      h(
        'div',
        { class: 'row', style: 'align-items:flex-start' },
        field('Name (optional)', this.#fields.id, 'Default: the public URL’s host'),
        field('Status URL (optional)', this.#fields.statusUrl, 'Where /stat is read'),
      ),
      h('div', { class: 'row' }, this.#addButton),
      this.#formNotice.element,
    );
    const panel = `/panel?token=${encodeURIComponent(pageToken())}`;
    replaceChildren(
      appRoot(),
      h(
        'div',
        { class: 'layout' },
        h(
          'section',
          { class: 'card stack', 'aria-labelledby': 'edges-title' },
          h(
            'div',
            { class: 'row', style: 'justify-content:space-between' },
            h('h2', { id: 'edges-title', style: 'margin:0' }, 'Edges'),
            h('a', { class: 'button small', href: panel }, 'Assemblies ›'),
          ),
          this.#summary,
          this.#tableNotice.element,
          h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'fleet', 'aria-labelledby': 'edges-title' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ...[
                    'Edge',
                    'State',
                    'Health',
                    'Viewers',
                    'Bandwidth',
                    'Streams',
                    'Last error',
                    'Actions',
                  ].map((title) => h('th', { scope: 'col' }, title)),
                ),
              ),
              this.#rows,
            ),
          ),
        ),
        h(
          'div',
          { class: 'layout panel' },
          h(
            'section',
            { class: 'card stack', 'aria-labelledby': 'add-title' },
            h('h2', { id: 'add-title' }, 'Add an edge'),
            h(
              'p',
              { class: 'small muted', style: 'margin:0' },
              'The origin pushes every live assembly to it within seconds, and new viewers are sent there once it serves. On the edge VM, ',
              h('code', {}, 'cli.js register'),
              ' does the same (nginx/README.md).',
            ),
            this.#form,
          ),
          h(
            'section',
            { class: 'card stack', 'aria-labelledby': 'audit-title' },
            h('h2', { id: 'audit-title' }, 'Recent changes'),
            this.#auditNotice.element,
            this.#audit,
          ),
        ),
      ),
    );
    this.#renderRows();
  }

  /** Reads the fleet and the audit log, then again in two seconds (until a refusal). */
  async #poll(): Promise<void> {
    clearTimeout(this.#timer);
    try {
      const [{ edges }, { entries }] = await Promise.all([
        api<{ edges: EdgeWire[] }>('GET', '/api/edges'),
        api<{ entries: AuditEntryWire[] }>('GET', `/api/audit?limit=${AUDIT_ENTRIES}`),
      ]);
      this.#edges = edges;
      this.#renderRows();
      this.#renderAudit(entries);
      setStatus('connected', `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      if (error instanceof RequestError && /^token_|^forbidden/.test(error.code)) {
        this.#refusal = true;
        setStatus('refused', `Cannot read the fleet: ${error.message}`);
        this.#tableNotice.show(`The server refused this page’s token: ${error.message}`, 'bad');
        return;
      }
      setStatus('retrying', 'Cannot reach the server, retrying…');
    }
    if (!this.#refusal) this.#timer = setTimeout(() => void this.#poll(), POLL_MS);
  }

  #renderRows(): void {
    const edges = this.#edges;
    const healthy = edges.filter((edge) => edge.status.healthy).length;
    const viewers = edges.reduce((sum, edge) => sum + (edge.status.httpConnections ?? 0), 0);
    const bandwidth = edges.reduce((sum, edge) => sum + (edge.status.bwIn ?? 0), 0);
    this.#summary.textContent =
      edges.length === 0
        ? 'No edge yet: viewers cannot watch. Add one below.'
        : `${edges.length} edge${edges.length === 1 ? '' : 's'}, ${healthy} healthy · ` +
          `${viewers} viewer connection${viewers === 1 ? '' : 's'} · ${formatBitRate(bandwidth)} in`;
    // Rebuilding the rows would drop the keyboard focus: note it, and put it back after.
    const focused = document.activeElement;
    const focusKey =
      focused instanceof HTMLElement && this.#rows.contains(focused)
        ? focused.dataset.focusKey
        : undefined;
    for (const id of this.#pending.keys()) {
      if (!edges.some((edge) => edge.id === id)) this.#pending.delete(id);
    }
    replaceChildren(
      this.#rows,
      ...(edges.length > 0
        ? edges.map((edge) => this.#row(edge))
        : [h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No edges registered.'))]),
    );
    if (focusKey !== undefined) {
      this.#rows.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
    }
  }

  #row(edge: EdgeWire): HTMLTableRowElement {
    const status = edge.status;
    const health =
      status.probedAt === undefined
        ? h('span', { class: 'pill' }, 'probing…')
        : status.healthy
          ? h('span', { class: 'pill ok' }, 'healthy')
          : h('span', { class: 'pill bad' }, 'failing');
    // Why it fails now, or when it was last probed: a stale time means probes stopped.
    const detail =
      !status.healthy && status.error !== undefined
        ? h('div', { class: 'small bad-text' }, status.error)
        : h('div', { class: 'small muted' }, `probed ${ago(status.probedAt)}`);
    const streams =
      status.streams.length === 0
        ? h('span', { class: 'muted' }, 'none')
        : h(
            'ul',
            { class: 'streams' },
            ...status.streams.map((stream) =>
              h(
                'li',
                {},
                h('span', { class: 'link-text' }, stream.name),
                ' ',
                stream.publishing
                  ? h(
                      'span',
                      { class: stream.playlistOk === false ? 'pill warn' : 'pill ok' },
                      stream.playlistOk === false ? 'no playlist' : 'on air',
                    )
                  : h('span', { class: stream.live ? 'pill warn' : 'pill' }, 'not received'),
              ),
            ),
          );
    const lastError =
      status.lastError === undefined
        ? h('span', { class: 'muted' }, 'none')
        : h(
            'span',
            { title: status.lastError.message },
            h('span', { class: 'small clamp' }, status.lastError.message),
            h('span', { class: 'small muted' }, ` · ${ago(status.lastError.at)}`),
          );
    return h(
      'tr',
      { 'data-edge': edge.id, 'data-state': edge.state },
      cell(
        'Edge',
        h('strong', {}, edge.id),
        edge.local ? h('span', { class: 'pill', style: 'margin-left:0.4rem' }, 'local') : null,
        h('div', { class: 'small muted link-text', title: edge.publicUrl }, edge.publicUrl),
      ),
      cell(
        'State',
        h('span', { class: edge.state === 'active' ? 'pill ok' : 'pill warn' }, edge.state),
      ),
      cell('Health', health, detail),
      cell('Viewers', h('span', { class: 'num' }, String(status.httpConnections ?? '–'))),
      cell(
        'Bandwidth',
        h('span', { class: 'num' }, `↓ ${formatBitRate(status.bwIn)}`),
        h(
          'div',
          { class: 'small muted num' },
          status.requestsPerSecond === undefined
            ? 'HTTP –'
            : `HTTP ${status.requestsPerSecond.toFixed(0)} req/s`,
        ),
      ),
      cell('Streams', streams),
      cell('Last error', lastError),
      cell('Actions', this.#actions(edge)),
    );
  }

  #actions(edge: EdgeWire): HTMLElement {
    const button = (
      label: string,
      action: string,
      run: () => void,
      options: { danger?: boolean; primary?: boolean; disabled?: boolean; title?: string } = {},
    ): HTMLButtonElement => {
      const element = h(
        'button',
        {
          type: 'button',
          class:
            options.danger === true
              ? 'small danger'
              : options.primary === true
                ? 'small primary'
                : 'small',
          'data-focus-key': `${edge.id}:${action}`,
          disabled: options.disabled === true,
          title: options.title,
          'aria-label': `${label} ${edge.id}`,
        },
        label,
      );
      element.addEventListener('click', run);
      return element;
    };
    const pending = this.#pending.get(edge.id);
    if (pending !== undefined) {
      const question =
        pending === 'drain'
          ? `Drain ${edge.id}? New viewers go elsewhere; its viewers move at their next reload.`
          : `Remove ${edge.id}? The origin stops pushing to it and nobody is sent there.`;
      return h(
        'div',
        { class: 'confirm', role: 'group', 'aria-label': `Confirm: ${pending} ${edge.id}` },
        h('span', { class: 'small' }, question),
        h(
          'span',
          { class: 'row' },
          button(
            pending === 'drain' ? 'Yes, drain' : 'Yes, remove',
            `confirm-${pending}`,
            () => void this.#change(edge, pending),
            { danger: pending === 'remove', primary: pending === 'drain' },
          ),
          button('Cancel', 'cancel', () => this.#ask(edge.id, undefined)),
        ),
      );
    }
    const removeTitle = edge.local
      ? 'The local edge runs inside the app server: drain it instead'
      : undefined;
    return h(
      'span',
      { class: 'row actions' },
      edge.state === 'active'
        ? button('Drain', 'drain', () => this.#ask(edge.id, 'drain'))
        : button('Activate', 'activate', () => void this.#change(edge, 'activate')),
      button('Remove', 'remove', () => this.#ask(edge.id, 'remove'), {
        danger: true,
        disabled: edge.local,
        title: removeTitle,
      }),
    );
  }

  #ask(id: string, action: Pending | undefined): void {
    if (action === undefined) this.#pending.delete(id);
    else this.#pending.set(id, action);
    this.#renderRows();
    const key =
      action === undefined
        ? `${id}:${this.#edges.find((e) => e.id === id)?.state === 'active' ? 'drain' : 'activate'}`
        : `${id}:cancel`;
    this.#rows.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
  }

  async #change(edge: EdgeWire, action: 'drain' | 'activate' | 'remove'): Promise<void> {
    this.#pending.delete(edge.id);
    try {
      if (action === 'remove') {
        await api<undefined>('DELETE', `/api/edges/${encodeURIComponent(edge.id)}`);
        this.#tableNotice.show(`Edge ${edge.id} removed.`, 'ok', 5000);
      } else {
        await api<{ edge: EdgeWire }>(
          'POST',
          `/api/edges/${encodeURIComponent(edge.id)}/${action}`,
        );
        this.#tableNotice.show(
          action === 'drain'
            ? `Edge ${edge.id} is draining: it gets no new viewers.`
            : `Edge ${edge.id} takes new viewers again.`,
          'ok',
          5000,
        );
      }
    } catch (error) {
      this.#tableNotice.show(`Could not ${action} ${edge.id}: ${errorMessage(error)}`, 'bad');
    }
    await this.#poll();
  }

  async #add(): Promise<void> {
    const text = (input: HTMLInputElement): string => input.value.trim();
    const body: NewEdgeWire = {
      publicUrl: text(this.#fields.publicUrl),
      ingestUrl: text(this.#fields.ingestUrl),
    };
    if (body.publicUrl === '' || body.ingestUrl === '') {
      this.#formNotice.show('Give the edge’s public URL and its ingest URL.', 'warn');
      (body.publicUrl === '' ? this.#fields.publicUrl : this.#fields.ingestUrl).focus();
      return;
    }
    if (text(this.#fields.id) !== '') body.id = text(this.#fields.id);
    if (text(this.#fields.statusUrl) !== '') body.statusUrl = text(this.#fields.statusUrl);
    this.#addButton.disabled = true;
    try {
      const { edge } = await api<{ edge: EdgeWire }>('POST', '/api/edges', body);
      for (const input of Object.values(this.#fields)) input.value = '';
      this.#formNotice.show(
        `Edge ${edge.id} added: the origin pushes to it now; it takes viewers once it is probed healthy.`,
        'ok',
        8000,
      );
      await this.#poll();
    } catch (error) {
      this.#formNotice.show(`Could not add the edge: ${errorMessage(error)}`, 'bad');
    } finally {
      this.#addButton.disabled = false;
    }
  }

  #renderAudit(entries: AuditEntryWire[]): void {
    this.#auditNotice.clear();
    replaceChildren(
      this.#audit,
      ...(entries.length > 0
        ? entries.map((entry) => {
            const subject =
              typeof entry.details.edge === 'string'
                ? `edge ${entry.details.edge}`
                : entry.assemblyId !== undefined
                  ? `assembly ${entry.assemblyId}`
                  : '';
            return h(
              'li',
              { 'data-action': entry.action },
              h(
                'span',
                { class: 'grow' },
                h('span', { class: 'pill' }, entry.action),
                ' ',
                h('strong', {}, subject),
                ` by ${entry.actor}`,
              ),
              h(
                'time',
                { class: 'small muted', datetime: entry.at, title: entry.at },
                ago(entry.at),
              ),
            );
          })
        : [h('li', { class: 'empty' }, 'Nothing yet.')]),
    );
  }
}

new OperatorPage();
