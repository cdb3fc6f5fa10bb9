import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeedbackPipeline } from '../../src/feedback/index.js';
import { ProjectMemoryStore } from '../../src/memory/index.js';
import { nodeIOWith, openDocument, StoreIOError } from '../../src/storage/index.js';
import { type ItemDoc, itemFormat } from '../helpers/item-format.js';
import { tempDir } from '../helpers/tmp.js';

const put = (doc: ItemDoc, id: string, n: number) => doc.mutate((tx) => tx.put(id, { id, n }));
const ids = async (doc: ItemDoc) => [...(await doc.read()).entries.keys()];

/** A directory outside the store's root with a file whose bytes must survive every test. */
function outside(text = 'precious, not a store file\n'): { target: string; text: string } {
  const target = path.join(tempDir('agent-stores-outside-'), 'target.txt');
  fs.writeFileSync(target, text);
  return { target, text };
}

async function refusal(promise: Promise<unknown>): Promise<StoreIOError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(StoreIOError);
  return error as StoreIOError;
}

describe('a JSON store never reads or writes through a symbolic link it did not create', () => {
  it('refuses a store file that is a link to a file elsewhere, naming it, and leaves the target as it was', async () => {
    const root = tempDir();
    const file = path.join(root, 'analysis_project_memory.json');
    const { target, text } = outside();
    fs.symlinkSync(target, file);
    const store = new ProjectMemoryStore({ path: file, onCorrupt: 'quarantine' });
    const write = await refusal(
      store.save({ entryId: 'm1', scope: 'project', projectKey: 'p', insight: 'i', confidence: 1 }),
    );
    expect(write).toMatchObject({ code: 'IO', errno: 'ELOOP', file });
    expect(write.message).toContain(file);
    expect(write.message).toContain('symbolic link');
    const read = await refusal(store.list());
    expect(read).toMatchObject({ errno: 'ELOOP', file });
    expect(fs.readFileSync(target, 'utf8')).toBe(text);
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
    expect(fs.readdirSync(root).filter((name) => !name.endsWith('.lock'))).toEqual(['analysis_project_memory.json']);
  });

  it('does not read another store’s data through a link to a valid store file', async () => {
    const real = path.join(tempDir(), 'feedback_pipeline.json');
    await new FeedbackPipeline({ path: real }).create({ entryId: 'a', feedbackId: 'f' });
    const bytes = fs.readFileSync(real);
    const link = path.join(tempDir(), 'feedback_pipeline.json');
    fs.symlinkSync(real, link);
    const pipeline = new FeedbackPipeline({ path: link });
    expect(await refusal(pipeline.get('a'))).toMatchObject({ errno: 'ELOOP', file: link });
    await refusal(pipeline.create({ entryId: 'b', feedbackId: 'f' }));
    expect(fs.readFileSync(real)).toEqual(bytes);
  });

  it('refuses a link planted at the lock directory’s path and leaves its target directory alone', async () => {
    const root = tempDir();
    const file = path.join(root, 'doc.json');
    const elsewhere = tempDir('agent-stores-outside-');
    fs.writeFileSync(path.join(elsewhere, 'owner.json'), '{"keep":true}');
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(elsewhere, old, old);
    fs.symlinkSync(elsewhere, `${file}.lock`);
    const error = await refusal(put(openDocument(itemFormat, { file }), 'a', 1));
    expect(error).toMatchObject({ errno: 'ELOOP', file: `${file}.lock` });
    expect(fs.readdirSync(elsewhere)).toEqual(['owner.json']);
    expect(fs.readFileSync(path.join(elsewhere, 'owner.json'), 'utf8')).toBe('{"keep":true}');
    expect(fs.existsSync(file)).toBe(false);
  });

  it('refuses a link planted at the temp file’s name, naming the temp path, and leaves its target alone', async () => {
    const root = tempDir();
    const file = path.join(root, 'doc.json');
    const { target, text } = outside();
    // The name is random in production; the seam lets the test know it in advance.
    const io = nodeIOWith({
      write: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length),
      tempSuffix: () => '0123456789abcdef',
    });
    const doc = openDocument(itemFormat, { file, io });
    // After the first write: the store's first lock sweeps names like its temp files away.
    await put(doc, 'a', 1);
    const bytes = fs.readFileSync(file);
    const temp = `${file}.0123456789abcdef.tmp`;
    fs.symlinkSync(target, temp);
    const error = await refusal(put(doc, 'b', 2));
    expect(error).toMatchObject({ errno: 'EEXIST' });
    expect(error.message).toContain(temp);
    expect(fs.readFileSync(target, 'utf8')).toBe(text);
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(fs.lstatSync(temp).isSymbolicLink()).toBe(true);
  });

  it('creates temp files under unpredictable names: two replaces never use the same one', async () => {
    const file = path.join(tempDir(), 'doc.json');
    const names: string[] = [];
    const io = nodeIOWith({
      write: (fd, buffer, offset, length) => {
        names.push(...fs.readdirSync(path.dirname(file)).filter((name) => name.endsWith('.tmp')));
        return fs.writeSync(fd, buffer, offset, length);
      },
    });
    const doc = openDocument(itemFormat, { file, io });
    for (let i = 0; i < 3; i++) await put(doc, `e${i}`, i);
    expect(names).toHaveLength(3);
    expect(new Set(names).size).toBe(3);
    for (const name of names) expect(name).toMatch(/^doc\.json\.[0-9a-f]{16}\.tmp$/);
  });

  it('works in a root that is itself a link, resolved once when the store opens', async () => {
    const realRoot = tempDir();
    const linkRoot = path.join(tempDir(), 'logs');
    fs.symlinkSync(realRoot, linkRoot);
    const doc = openDocument(itemFormat, { file: path.join(linkRoot, 'doc.json') });
    await put(doc, 'a', 1);
    // Pointing the link elsewhere later does not move an open store's writes.
    const otherRoot = tempDir();
    fs.unlinkSync(linkRoot);
    fs.symlinkSync(otherRoot, linkRoot);
    await put(doc, 'b', 2);
    expect(await ids(openDocument(itemFormat, { file: path.join(realRoot, 'doc.json') }))).toEqual(['a', 'b']);
    expect(fs.readdirSync(otherRoot)).toEqual([]);
  });

  it('resolves a root that does not exist yet once it has created it', async () => {
    const parent = tempDir();
    const realRoot = path.join(parent, 'real');
    fs.symlinkSync(realRoot, path.join(parent, 'logs'));
    fs.mkdirSync(realRoot);
    const doc = openDocument(itemFormat, { file: path.join(parent, 'logs', 'sub', 'doc.json') });
    await put(doc, 'a', 1);
    expect(fs.readdirSync(path.join(realRoot, 'sub')).filter((name) => name === 'doc.json')).toEqual(['doc.json']);
  });
});
