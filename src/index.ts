/**
 * agent-stores: file-backed stores for the backend of an AI analysis agent.
 * Contract: every name exported here is public API.
 * @packageDocumentation
 */

export * from './create-stores.js';
export * from './events/index.js';
export * from './feedback/index.js';
export * from './memory/index.js';
export * from './runs/index.js';
export * from './sse/index.js';
export * from './storage/public.js';
