import * as path from 'node:path';
import { AnalysisRunStore } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { describeRunStoreConformance } from './run-store.conformance.js';

describeRunStoreConformance(
  'files',
  (options) => new AnalysisRunStore({ dir: path.join(tempDir(), 'analysis_runs'), ...options }),
);
describeRunStoreConformance('in memory', (options) => AnalysisRunStore.inMemory(options));
