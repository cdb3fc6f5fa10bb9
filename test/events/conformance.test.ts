import { AgentEventLog } from '../../src/events/index.js';
import { tempDir } from '../helpers/tmp.js';
import { describeEventLogConformance } from './event-log.conformance.js';

describeEventLogConformance('file', (options = {}) => new AgentEventLog({ dir: tempDir(), ...options }));
describeEventLogConformance('memory', (options = {}) => AgentEventLog.inMemory(options));
