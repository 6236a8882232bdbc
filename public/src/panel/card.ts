/** Building blocks shared by the panel's cards. */
import { copyText, h } from '../lib/dom.js';

/** A titled card of the panel; `id` names the section and its heading. */
export function card(id: string, title: string, ...children: (Node | null)[]): HTMLElement {
  return h(
    'section',
    { class: 'card stack', 'aria-labelledby': `${id}-title`, id },
    h('h2', { id: `${id}-title` }, title),
    ...children,
  );
}

/** A link with Copy and Open buttons. */
export function linkRow(label: string, url: string): HTMLLIElement {
  const copy = h(
    'button',
    { type: 'button', class: 'small', 'aria-label': `Copy ${label} link` },
    'Copy',
  );
  copy.addEventListener('click', () => {
    void copyText(url).then((ok) => {
      copy.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (copy.textContent = 'Copy'), 2000);
    });
  });
  return h(
    'li',
    {},
    h('span', { class: 'pill' }, label),
    h('span', { class: 'grow link-text', title: url }, url),
    copy,
    h('a', { class: 'button small', href: url, target: '_blank', rel: 'noopener' }, 'Open'),
  );
}
