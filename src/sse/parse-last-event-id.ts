/** Digits only: no sign, no fraction, no exponent, no spaces. */
const CURSOR_TEXT = /^[0-9]+$/;

/** A header value as node's `IncomingMessage.headers` gives it: absent, one string, or several. */
export type HeaderValue = string | readonly string[] | undefined | null;

function parseOne(value: HeaderValue): number | null {
  // Node gives an array when a header is repeated; a cursor must be unambiguous, so take the
  // first value and ignore the rest rather than guess which one the client meant.
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || !CURSOR_TEXT.test(text)) return null;
  const cursor = Number(text);
  return Number.isSafeInteger(cursor) ? cursor : null;
}

/**
 * The cursor a reconnecting SSE client asks to resume after, or `null` to start from the beginning.
 *
 * The `Last-Event-ID` header wins; the legacy `?lastEventId=` query value (used by polyfills
 * that cannot set headers) is only consulted when the header is absent or not a cursor.
 * Only a plain non-negative integer counts: `'3.5'`, `'1e9'`, `'-1'`, `''`, `' 3'` and values
 * beyond `Number.MAX_SAFE_INTEGER` give `null`.
 *
 * @param header - `req.headers['last-event-id']` (a string, an array of strings, or undefined).
 * @param legacyQuery - the `lastEventId` query parameter, if the caller has one.
 * @returns the cursor, or `null` when neither value is a valid cursor.
 */
export function parseLastEventId(header: HeaderValue, legacyQuery?: HeaderValue): number | null {
  return parseOne(header) ?? parseOne(legacyQuery);
}
