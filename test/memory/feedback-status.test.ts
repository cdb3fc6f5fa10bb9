import { describe, expect, it } from 'vitest';
import { DISPUTE_WINDOW_MS, MISCLICK_WINDOW_MS, nextFeedbackStatus } from '../../src/memory/feedback-status.js';

const created = 1_000;
const first = 50_000;

describe('nextFeedbackStatus', () => {
  it('confirms a provisional entry on a positive rating', () => {
    expect(nextFeedbackStatus({ status: 'provisional', createdAt: created }, 'positive', first)).toBe('confirmed');
  });

  it('rejects a provisional entry on a negative rating', () => {
    expect(nextFeedbackStatus({ status: 'provisional', createdAt: created }, 'negative', first)).toBe('rejected');
  });

  it('treats a reverse rating just inside the misclick window as the last word', () => {
    const state = { status: 'confirmed' as const, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'negative', first + MISCLICK_WINDOW_MS - 1)).toBe('rejected');
  });

  it('lets a rejection inside the misclick window be turned into a confirmation', () => {
    const state = { status: 'rejected' as const, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'positive', first + 1)).toBe('confirmed');
  });

  it('keeps rejected final from the end of the misclick window on', () => {
    const state = { status: 'rejected' as const, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'positive', first + MISCLICK_WINDOW_MS)).toBe('rejected');
  });

  it('disputes a confirmation reversed from the end of the misclick window to 24 h inclusive', () => {
    const state = { status: 'confirmed' as const, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'negative', first + MISCLICK_WINDOW_MS)).toBe('disputed');
    expect(nextFeedbackStatus(state, 'negative', first + DISPUTE_WINDOW_MS)).toBe('disputed');
  });

  it('marks a confirmation reversed after 24 h disputed_late', () => {
    const state = { status: 'confirmed' as const, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'negative', first + DISPUTE_WINDOW_MS + 1)).toBe('disputed_late');
  });

  it('changes nothing when the rating agrees with the status', () => {
    expect(
      nextFeedbackStatus({ status: 'confirmed', createdAt: created, firstFeedbackAt: first }, 'positive', first + 1),
    ).toBe('confirmed');
    expect(
      nextFeedbackStatus({ status: 'rejected', createdAt: created, firstFeedbackAt: first }, 'negative', first + 1),
    ).toBe('rejected');
  });

  it.each(['disputed', 'disputed_late'] as const)('leaves %s as it is whatever the rating', (status) => {
    const state = { status, createdAt: created, firstFeedbackAt: first };
    expect(nextFeedbackStatus(state, 'positive', first + 1)).toBe(status);
    expect(nextFeedbackStatus(state, 'negative', first + 1)).toBe(status);
  });

  it('never treats the first rating of a confirmed entry without feedback as a misclick', () => {
    expect(nextFeedbackStatus({ status: 'confirmed', createdAt: created }, 'negative', created + 1)).toBe('disputed');
  });

  it('measures the dispute window of a confirmed entry without feedback from createdAt', () => {
    expect(
      nextFeedbackStatus({ status: 'confirmed', createdAt: created }, 'negative', created + DISPUTE_WINDOW_MS + 1),
    ).toBe('disputed_late');
  });
});
