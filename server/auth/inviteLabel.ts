/**
 * The label of an invite link: where or who it is for ("Room 12"). A camera joins under its
 * link's label, so the rule lives in one place and is checked wherever a label enters: the REST
 * body, the token CLI, the domain, and the signed token's `lbl` claim.
 */

export const INVITE_LABEL_MAX_LENGTH = 40;

/**
 * Printable characters only: no control, format, private-use or unassigned code points and no
 * line or paragraph separators (a label is shown on one line, in the panel and as a tile name),
 * except the zero-width joiner that emoji sequences need.
 */
export const INVITE_LABEL_PATTERN = /^(?:[^\p{C}\p{Zl}\p{Zp}]|\u200d)+$/u;

/** What a valid label is, in the words error messages use. */
export const INVITE_LABEL_RULE = `a label of 1 to ${INVITE_LABEL_MAX_LENGTH} printable characters`;

/** True for an already trimmed label of 1 to 40 printable characters. */
export function isInviteLabel(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= INVITE_LABEL_MAX_LENGTH &&
    value.trim() === value &&
    INVITE_LABEL_PATTERN.test(value)
  );
}
