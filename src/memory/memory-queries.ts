// The read rules of the memory store as pure functions over the entries a backend holds: which
// entries `list()` keeps and in what order, how `recall()` scores and ranks, what `stats()` counts.
// A backend may narrow the candidates first (a SQL WHERE); these decide.
import { compareIds, copyEntry } from './memory-rules.js';
import type {
  MemoryListQuerySchema,
  MemoryRecallHit,
  MemoryRecallQuerySchema,
  ProjectMemoryEntry,
  StoredMemoryScope,
} from './schemas.js';

/** A `list()` filter once validated. */
export type ListFilter = ReturnType<typeof MemoryListQuerySchema.parse>;
/** A `recall()` query once validated (with its default `topK`). */
export type RecallFilter = ReturnType<typeof MemoryRecallQuerySchema.parse>;

/** Count of entries per scope, as returned by `stats()`. */
export interface ProjectMemoryStats {
  project: number;
  world: number;
}

/**
 * Copies of the entries that match every filter given, sorted by `entryId`: `projectKey` compares
 * the entry's own; `anyOfTags` keeps entries with at least one of the tags (empty: no filter).
 */
export function listEntries(entries: Iterable<ProjectMemoryEntry>, filter: ListFilter): ProjectMemoryEntry[] {
  const { scope, projectKey, anyOfTags } = filter;
  const tags = anyOfTags?.length ? new Set(anyOfTags) : undefined;
  const out: ProjectMemoryEntry[] = [];
  for (const entry of entries) {
    if (scope !== undefined && entry.scope !== scope) continue;
    if (projectKey !== undefined && entry.projectKey !== projectKey) continue;
    if (tags && !entry.tags.some((tag) => tags.has(tag))) continue;
    out.push(copyEntry(entry));
  }
  return out.sort((a, b) => compareIds(a.entryId, b.entryId));
}

/**
 * The `topK` best hits for `query`, best first, with copies of the entries:
 * - candidates: `project` entries (only those of `projectKey` when given) and `world` entries;
 *   `scope` keeps only one of the two; entries with an `unsupportedReason` and `rejected` ones are out;
 * - score: with tags, the share of the distinct query tags the entry carries (0 is out); without,
 *   the entry's `confidence`;
 * - ties: higher `confidence` first, then `entryId`.
 */
export function recallHits(entries: Iterable<ProjectMemoryEntry>, query: RecallFilter): MemoryRecallHit[] {
  const { scope, projectKey, tags, topK } = query;
  const wanted = tags?.length ? new Set(tags) : undefined;
  const hits: MemoryRecallHit[] = [];
  for (const entry of entries) {
    if (scope !== undefined && entry.scope !== scope) continue;
    if (entry.scope === 'project' && projectKey !== undefined && entry.projectKey !== projectKey) continue;
    if (entry.unsupportedReason !== undefined || entry.status === 'rejected') continue;
    let score = entry.confidence;
    if (wanted) {
      let shared = 0;
      for (const tag of new Set(entry.tags)) if (wanted.has(tag)) shared++;
      if (shared === 0) continue;
      score = shared / wanted.size;
    }
    hits.push({ entry, score });
  }
  hits.sort(
    (a, b) =>
      b.score - a.score || b.entry.confidence - a.entry.confidence || compareIds(a.entry.entryId, b.entry.entryId),
  );
  return hits.slice(0, topK).map(({ entry, score }) => ({ entry: copyEntry(entry), score }));
}

/** How many entries each scope holds. */
export function countByScope(entries: Iterable<{ scope: StoredMemoryScope }>): ProjectMemoryStats {
  const stats: ProjectMemoryStats = { project: 0, world: 0 };
  for (const entry of entries) stats[entry.scope]++;
  return stats;
}
