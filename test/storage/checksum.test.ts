import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptStoreError, openDocument } from '../../src/storage/index.js';
import { itemFormat } from '../helpers/item-format.js';
import { tempDir } from '../helpers/tmp.js';
import { damage } from '../reliability/faulty-io.js';

async function written(): Promise<{ file: string; bytes: Buffer; entries: unknown[] }> {
  const file = path.join(tempDir(), 'doc.json');
  const doc = openDocument(itemFormat, { file });
  await doc.mutate((tx) => {
    tx.put('alpha', { id: 'alpha', n: 1234 });
    tx.put('beta', { id: 'beta', n: 5 });
    tx.setMeta({ count: 2 });
    tx.appendLog('made alpha and beta');
  });
  const entries = [...(await doc.read()).entries.values()];
  return { file, bytes: fs.readFileSync(file), entries };
}

/** What a fresh store reads from `bytes`: its entries, or the error. */
async function readBack(file: string, bytes: Buffer): Promise<unknown[]> {
  fs.writeFileSync(file, bytes);
  return [...(await openDocument(itemFormat, { file }).read()).entries.values()];
}

describe('the checksum of a JSON store file', () => {
  it('refuses a flipped bit inside a string that still parses (CorruptStoreError naming the file)', async () => {
    const { file, bytes } = await written();
    const at = bytes.indexOf('made alpha') + 2;
    const flipped = damage(bytes, 'flipped-byte', at / bytes.length);
    // Still valid JSON, still passing the schema: only the checksum can tell.
    expect(JSON.parse(flipped.toString()).log).toEqual(['ma`e alpha and beta']);
    const error = await readBack(file, flipped).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptStoreError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain('checksum');
  });

  it('never serves other data whichever byte is flipped', async () => {
    const { file, bytes, entries } = await written();
    for (let at = 0; at < bytes.length; at++) {
      const flipped = Buffer.from(bytes);
      flipped[at] = flipped[at]! ^ 0x04;
      const result = await readBack(file, flipped).catch((e: unknown) => e);
      // Only a flip in the key's own name can leave a readable file, with the data intact.
      if (!(result instanceof CorruptStoreError)) expect(result, `byte ${at} flipped`).toEqual(entries);
    }
  });

  it('refuses a block of zeros wherever it lands', async () => {
    const { file, bytes } = await written();
    for (const where of [0, 0.3, 0.6, 0.99]) {
      await expect(readBack(file, damage(bytes, 'zeroed-range', where))).rejects.toBeInstanceOf(CorruptStoreError);
    }
  });

  it('reads a file without a checksum (older versions, the legacy implementation, edited by hand)', async () => {
    const { file, bytes, entries } = await written();
    const plain = Buffer.from(bytes.toString('utf8').replace(/"crc32":"[0-9a-f]{8}",/, ''));
    expect(plain.toString('utf8')).not.toContain('crc32');
    expect(await readBack(file, plain)).toEqual(entries);
  });

  it('is written in the first line, after rev', async () => {
    const { bytes } = await written();
    expect(bytes.toString('utf8').split('\n')[0]).toMatch(/^\{"schemaVersion":1,"rev":1,"crc32":"[0-9a-f]{8}",$/);
  });
});
