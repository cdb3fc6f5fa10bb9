import type { FeedbackRating, MemoryStatus } from './schemas.js';

/** A reverse rating sooner than this after the first feedback is a misclick: the last one wins. */
export const MISCLICK_WINDOW_MS = 10_000;
/** A reverse rating up to this long after the first feedback is a `disputed`; later, `disputed_late`. */
export const DISPUTE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** What the feedback machine needs to know about an entry. */
export interface FeedbackState {
  status: MemoryStatus;
  createdAt: number;
  firstFeedbackAt?: number | undefined;
}

/**
 * The status an entry takes when it receives `rating` at `now`. Pure, so the rules can be read
 * and tested on their own:
 *
 * - `provisional`: the first rating decides, positive → `confirmed`, negative → `rejected`.
 * - The same rating as the current `confirmed` / `rejected` changes nothing.
 * - A reverse rating less than {@link MISCLICK_WINDOW_MS} after `firstFeedbackAt` is a misclick:
 *   the last rating wins, back and forth (`rejected` → `confirmed` included).
 * - After that window `rejected` is final.
 * - A negative rating on `confirmed` after the window: `disputed` up to
 *   {@link DISPUTE_WINDOW_MS} after `firstFeedbackAt` (inclusive), `disputed_late` after it.
 * - An entry that is `confirmed` without any feedback (auto-confirmed, or saved so) cannot have
 *   been misclicked: a negative rating measures the dispute windows from `createdAt` instead.
 * - `disputed` and `disputed_late` wait for a person: further ratings leave them as they are.
 */
export function nextFeedbackStatus(state: FeedbackState, rating: FeedbackRating, now: number): MemoryStatus {
  const { status, firstFeedbackAt } = state;
  if (status === 'provisional') return rating === 'positive' ? 'confirmed' : 'rejected';
  if (status === 'disputed' || status === 'disputed_late') return status;
  const agrees = (status === 'confirmed') === (rating === 'positive');
  if (agrees) return status;
  const since = now - (firstFeedbackAt ?? state.createdAt);
  if (firstFeedbackAt !== undefined && since < MISCLICK_WINDOW_MS) {
    return rating === 'positive' ? 'confirmed' : 'rejected';
  }
  if (status === 'rejected') return 'rejected';
  return since <= DISPUTE_WINDOW_MS ? 'disputed' : 'disputed_late';
}
