import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';

/** The files the implementation agent-stores replaces wrote itself (see the README beside them). */
export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'seed-reference');
export const MEMORY_FILE = 'analysis_project_memory.json';
export const PIPELINE_FILE = 'feedback_pipeline.json';

/** A fresh `logs/` folder holding copies of the fixture files (the originals are never opened by a store). */
export function copyOfSeedLogs(): { root: string; memoryFile: string; pipelineFile: string } {
  const root = path.join(tempDir('agent-stores-dropin-'), 'logs');
  fs.mkdirSync(root);
  for (const name of [MEMORY_FILE, PIPELINE_FILE]) fs.copyFileSync(path.join(FIXTURES, name), path.join(root, name));
  return { root, memoryFile: path.join(root, MEMORY_FILE), pipelineFile: path.join(root, PIPELINE_FILE) };
}

/** The fixture file's document, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: fixture documents are plain JSON compared with toEqual.
export function fixtureDoc(name: string): any {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
}

// biome-ignore lint/suspicious/noExplicitAny: records as the old reader sees them.
type Rows = any[];

/**
 * What the implementation agent-stores replaces reads from a memory file: it accepts the document
 * only when `schemaVersion === 1` and `entries` and `promotionAudit` are arrays, and otherwise
 * starts empty (and overwrites the file on its next write). Returns `undefined` for "starts empty".
 */
export function oldMemoryReader(file: string): { entries: Rows; promotionAudit: Rows } | undefined {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (doc?.schemaVersion !== 1 || !Array.isArray(doc.entries) || !Array.isArray(doc.promotionAudit)) return undefined;
  return { entries: doc.entries, promotionAudit: doc.promotionAudit };
}

/** The same acceptance rule for the pipeline file: `schemaVersion === 1` and `entries` an array. */
export function oldPipelineReader(file: string): { entries: Rows } | undefined {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (doc?.schemaVersion !== 1 || !Array.isArray(doc.entries)) return undefined;
  return { entries: doc.entries };
}

/** `rows` sorted by `entryId` in code-unit order (the order `memory.list()` returns). */
export function byEntryId<T extends { entryId: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0));
}
