/**
 * The studio's keyboard: digits 1 to 9 put the n-th multiview source on the preview, space or
 * enter takes. Keys that belong to what has the focus are left alone: typing in a field never
 * cuts anything, and space or enter on a focused button, link or field does what it always does
 * (activate it) instead of a take the presenter did not mean.
 */

export interface ShortcutActions {
  preview(n: number): void;
  take(): void;
}

/** Elements where space and enter already mean something. */
const INTERACTIVE =
  'button, a[href], input, select, textarea, summary, [contenteditable], [role="button"]';
/** Elements where digits are text. */
const TEXT_ENTRY = 'input, select, textarea, [contenteditable]';

export function installShortcuts(target: Document, actions: ShortcutActions): () => void {
  const onKey = (event: KeyboardEvent): void => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const focused = event.target instanceof Element ? event.target : null;
    if (/^[1-9]$/.test(event.key)) {
      if (focused?.closest(TEXT_ENTRY) != null) return;
      event.preventDefault();
      actions.preview(Number(event.key));
      return;
    }
    if (event.key === ' ' || event.key === 'Enter') {
      if (focused?.closest(INTERACTIVE) != null || event.repeat) return;
      event.preventDefault();
      actions.take();
    }
  };
  target.addEventListener('keydown', onKey);
  return () => target.removeEventListener('keydown', onKey);
}
