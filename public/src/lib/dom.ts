/**
 * Small DOM helpers: the pages build their markup with `h()` instead of a framework, so that
 * every element is created with its text set through textContent (never innerHTML) and its
 * accessible label next to it.
 */

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined>;

/**
 * Creates `<tag>` with attributes and children. A `true` attribute is set empty, `false` and
 * `undefined` are left out; `class`, `aria-*`, `data-*` and the rest are all plain attributes,
 * except `style`, which is applied through the CSSOM: the pages' Content-Security-Policy refuses
 * style attributes (`style-src 'self'`), but not styles set from a script it allowed.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'style') element.style.cssText = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces all children of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with this id, which the shell or the page itself created. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** The page's main element, where each page puts its content. */
export function appRoot(): HTMLElement {
  return byId('app');
}

export type Tone = 'ok' | 'warn' | 'bad' | 'info';

/** A one-line message area (`.notice`) that is hidden while it has nothing to say. */
export class Notice {
  readonly element: HTMLParagraphElement;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(live: 'polite' | 'assertive' = 'polite') {
    this.element = h('p', { class: 'notice', 'aria-live': live, hidden: true });
  }

  /** Shows `text`; with `clearAfterMs` it hides itself again after that long. */
  show(text: string, tone: Tone = 'info', clearAfterMs?: number): void {
    clearTimeout(this.#timer);
    this.element.textContent = text;
    this.element.dataset.tone = tone;
    this.element.hidden = false;
    if (clearAfterMs !== undefined) this.#timer = setTimeout(() => this.clear(), clearAfterMs);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.element.hidden = true;
    this.element.textContent = '';
  }
}

/**
 * The state shown over a video: a message (with a spinner while something is under way) that
 * hides when the picture is there.
 */
export class VideoOverlay {
  readonly element: HTMLDivElement;
  readonly #text: HTMLParagraphElement;
  readonly #spinner: HTMLDivElement;
  readonly #actions: HTMLDivElement;

  constructor() {
    this.#spinner = h('div', { class: 'spinner', 'aria-hidden': 'true' });
    this.#text = h('p', { style: 'margin:0' });
    this.#actions = h('div', { class: 'row' });
    this.element = h(
      'div',
      { class: 'overlay', role: 'status', 'aria-live': 'polite' },
      this.#spinner,
      this.#text,
      this.#actions,
    );
  }

  /** Shows `text`; `busy` adds a spinner, `bad` a red background, `action` one button. */
  show(
    text: string,
    options: { busy?: boolean; bad?: boolean; action?: { label: string; run: () => void } } = {},
  ): void {
    this.#text.textContent = text;
    this.#spinner.hidden = options.busy !== true;
    if (options.bad === true) this.element.dataset.tone = 'bad';
    else delete this.element.dataset.tone;
    this.#actions.replaceChildren();
    if (options.action !== undefined) {
      const { label, run } = options.action;
      const button = h('button', { type: 'button', class: 'primary' }, label);
      button.addEventListener('click', run);
      this.#actions.append(button);
    }
    this.element.hidden = false;
  }

  hide(): void {
    this.element.hidden = true;
  }

  get text(): string {
    return this.#text.textContent ?? '';
  }
}

/** Copies `text` to the clipboard; falls back to selecting it for pages without clipboard access. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { 'aria-hidden': 'true', style: 'position:fixed;opacity:0' });
    area.value = text;
    document.body.append(area);
    area.select();
    // execCommand is deprecated but is the only copy path on plain-HTTP pages (no secure context).
    const copied = document.execCommand('copy');
    area.remove();
    return copied;
  }
}

/** 75000 → "1:15"; 3 723 000 → "1:02:03". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}`
    : `${minutes}:${seconds}`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
