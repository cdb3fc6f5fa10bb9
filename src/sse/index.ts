// Replaced by the SSE helper (issue 5).
export {};
