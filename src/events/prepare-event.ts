import { type Clock, readClock } from '../storage/clock.js';
import { PayloadTooLargeError } from '../storage/errors.js';
import { assertValidId } from '../storage/ids.js';
import { parseInput, toJsonValue } from '../storage/validate.js';
import { type AppendEventInput, AppendEventSchema, isValidEventType } from './agent-event.js';

/** An append that passed every check, ready for a batch: what every event log backend stores. */
export interface PreparedAppend {
  type: string;
  at: number;
  /** The payload as stored: a copy sharing nothing with the caller's value. */
  payload: unknown;
  /** `payload` as JSON text. */
  payloadText: string;
  /** The event's NDJSON line after its cursor: `,"type":…,"at":…,"payload":…}\n`. */
  tail: string;
  /** The type seals the run. */
  terminal: boolean;
}

/** What {@link prepareAppend} checks against. */
export interface AppendRules {
  clock: Clock;
  maxEventBytes: number;
  terminalTypes: ReadonlySet<string>;
}

const LINE_HEAD_BYTES = '{"cursor":'.length;

/**
 * Checks an append as every event log does before it touches storage: the run id rule, the event
 * type, the payload as JSON data, the clock's reading and the size limit (counted as the UTF-8
 * bytes of the event's NDJSON line, cursor digits not counted, whatever the backend stores).
 *
 * @throws InvalidIdError, ValidationError, PayloadTooLargeError (see `AgentEventLog.append`).
 */
export function prepareAppend(runId: string, input: AppendEventInput, rules: AppendRules): PreparedAppend {
  assertValidId(runId, 'runId');
  if (typeof input !== 'object' || input === null || !isValidEventType(input.type)) {
    parseInput(AppendEventSchema, input, `event for run '${runId}'`);
  }
  const { type } = input;
  const { value: payload, text: payloadText } = toJsonValue(
    input.payload === undefined ? null : input.payload,
    `the payload of the '${type}' event for run '${runId}'`,
  );
  const at = readClock(rules.clock, `the clock's reading for the '${type}' event of run '${runId}'`);
  const tail = `,"type":${JSON.stringify(type)},"at":${at},"payload":${payloadText}}\n`;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only when it could matter.
  if (LINE_HEAD_BYTES + tail.length * 3 > rules.maxEventBytes) {
    const size = LINE_HEAD_BYTES + Buffer.byteLength(tail);
    if (size > rules.maxEventBytes) throw new PayloadTooLargeError(size, rules.maxEventBytes);
  }
  return { type, at, payload, payloadText, tail, terminal: rules.terminalTypes.has(type) };
}

/** A batch's appends by run, each run's in the order they were issued. */
export function groupByRun<T extends { runId: string }>(items: readonly T[]): Map<string, T[]> {
  const byRun = new Map<string, T[]>();
  for (const item of items) {
    const list = byRun.get(item.runId);
    if (list) list.push(item);
    else byRun.set(item.runId, [item]);
  }
  return byRun;
}
