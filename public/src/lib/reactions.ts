/**
 * Reactions as the pages show them: an emoji and a label per reaction, emoji that float up over
 * a video, and running totals.
 */
import { REACTIONS, type Reaction } from '../../../server/signaling/events.js';
import type { SignalingSocket } from './connect.js';
import { h } from './dom.js';

export const REACTION_LOOKS: Record<Reaction, { emoji: string; label: string }> = {
  clap: { emoji: '👏', label: 'Clap' },
  heart: { emoji: '❤️', label: 'Love it' },
  laugh: { emoji: '😂', label: 'Laugh' },
  wow: { emoji: '😮', label: 'Wow' },
  question: { emoji: '❓', label: 'Question' },
};

export function isReaction(name: string): name is Reaction {
  return (REACTIONS as readonly string[]).includes(name);
}

/** At most this many emoji float per reaction per tick, so a busy hall stays readable. */
const MAX_FLOATERS_PER_TICK = 8;

/** An overlay (absolutely placed inside a .video-box) where reaction emoji float up. */
export class ReactionFloaters {
  readonly element = h('div', { class: 'floaters', 'aria-hidden': 'true' });

  /**
   * Floats `count` emoji of `reaction` (at most a few). `replayOf`: the program time (Unix ms)
   * of a replayed reaction, which floats marked as a replay, not as one sent now.
   */
  spawn(reaction: Reaction, count = 1, replayOf?: number): void {
    const n = Math.min(count, MAX_FLOATERS_PER_TICK);
    for (let i = 0; i < n; i++) {
      const floater = h(
        'span',
        {
          class: replayOf === undefined ? 'floater' : 'floater replay',
          'data-reaction': reaction,
          'data-at': replayOf,
          style: `left:${5 + Math.random() * 85}%;animation-delay:${(i * 180 + Math.random() * 120).toFixed(0)}ms`,
        },
        REACTION_LOOKS[reaction].emoji,
      );
      floater.addEventListener('animationend', () => floater.remove());
      this.element.append(floater);
    }
  }
}

/** Running totals per reaction, shown as "👏 12  ❤️ 3 …". */
export class ReactionTotals {
  readonly element = h('div', { class: 'counts', 'aria-label': 'Reactions so far' });
  readonly #totals = new Map<Reaction, number>(REACTIONS.map((r) => [r, 0]));
  readonly #cells = new Map<Reaction, HTMLSpanElement>();

  constructor() {
    for (const reaction of REACTIONS) {
      const cell = h('span', { 'data-reaction': reaction });
      this.#cells.set(reaction, cell);
      this.element.append(cell);
    }
    this.#render();
  }

  add(reaction: Reaction, count: number): void {
    this.#totals.set(reaction, (this.#totals.get(reaction) ?? 0) + count);
    this.#render();
  }

  /** Shows the server's totals for the whole assembly (welcome, reactions:tick). */
  set(totals: Record<string, number>): void {
    for (const reaction of REACTIONS) {
      const total = totals[reaction];
      this.#totals.set(reaction, typeof total === 'number' && Number.isFinite(total) ? total : 0);
    }
    this.#render();
  }

  #render(): void {
    for (const [reaction, cell] of this.#cells) {
      const { emoji, label } = REACTION_LOOKS[reaction];
      const total = this.#totals.get(reaction) ?? 0;
      cell.textContent = `${emoji} ${total}`;
      cell.title = `${label}: ${total}`;
      cell.setAttribute('aria-label', `${label}: ${total}`);
    }
  }
}

/**
 * Feeds the server's per-tick reaction counts (`reactions:tick`, the last second's) into
 * `onReactions(reaction, count)`, skipping names this page does not know.
 */
export function listenForReactions(
  socket: SignalingSocket,
  onReactions: (reaction: Reaction, count: number) => void,
): void {
  socket.on('reactions:tick', ({ counts }) => {
    for (const [name, count] of Object.entries(counts)) {
      if (isReaction(name) && Number.isFinite(count) && count > 0) onReactions(name, count);
    }
  });
}

/**
 * Keeps `totals` equal to the server's totals for the whole assembly: from the welcome, then
 * from every tick (a page opened late, or reloaded, shows the same figures as the others).
 */
export function followReactionTotals(socket: SignalingSocket, totals: ReactionTotals): void {
  socket.on('welcome', (welcome) => {
    if (welcome.reactionTotals !== undefined) totals.set(welcome.reactionTotals);
  });
  socket.on('reactions:tick', (tick) => {
    if (tick.totals !== undefined) totals.set(tick.totals);
  });
}
