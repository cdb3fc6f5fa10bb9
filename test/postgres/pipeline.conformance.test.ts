// The feedback pipeline's conformance suites (test/feedback/*.conformance.ts), the very same tests
// the file and in-memory pipelines pass, run against PostgreSQL: each test on a fresh schema of its own.
import { PostgresFeedbackPipeline } from '../../src/feedback/postgres-feedback-pipeline.js';
import { PostgresDatabase } from '../../src/postgres/database.js';
import { describePipelineConformance } from '../feedback/feedback-pipeline.conformance.js';
import type { OpenPipeline } from '../feedback/helpers.js';
import { describePipelineCloseConformance } from '../feedback/lifecycle.conformance.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();

const open: OpenPipeline = (clock) =>
  new PostgresFeedbackPipeline(new PostgresDatabase({ pool: db.pool, schema: db.freshSchema() }), { clock });

describePipelineConformance('PostgreSQL', open);
describePipelineCloseConformance('PostgreSQL', open);
