// What package.json promises a consumer, checked without building: `npm run check:package`
// (test/package/check-package.sh, run by CI) then proves it on the packed tarball.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const REPOSITORY = 'https://github.com/agent-stores/agent-stores';

describe('package.json', () => {
  it('builds before packing, so npm pack and installs from git ship the code', () => {
    expect(pkg.files).toContain('dist');
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.scripts.build).toMatch(/\btsup\b/);
  });

  it('maps every subpath for moduleResolution node, which ignores exports', () => {
    const subpaths = Object.keys(pkg.exports)
      .filter((key) => key !== '.' && key !== './package.json')
      .map((key) => key.slice(2));
    expect(subpaths).toEqual(['sse', 'testing', 'postgres']);
    for (const subpath of subpaths) {
      expect(pkg.typesVersions['*'][subpath]).toEqual([pkg.exports[`./${subpath}`].require.types]);
    }
  });

  it('names the repository, the home page and where to report bugs', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: `git+${REPOSITORY}.git` });
    expect(pkg.homepage).toBe(`${REPOSITORY}#readme`);
    expect(pkg.bugs).toEqual({ url: `${REPOSITORY}/issues` });
  });
});

describe('entry points', () => {
  it('keeps the IO seams off the root export and offers them from agent-stores/testing', async () => {
    const root: Record<string, unknown> = await import('../../src/index.js');
    const testing: Record<string, unknown> = await import('../../src/testing.js');
    for (const seam of ['nodeIO', 'nodeEventLogIO', 'nodeRunFilesIO']) {
      expect(root[seam], seam).toBeUndefined();
      expect(typeof testing[seam], seam).toBe('object');
    }
  });
});

describe('the README', () => {
  it('links only to files the tarball has, or to the repository', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)]
      .map((m) => m[1]!)
      .filter((target) => !/^https?:\/\//.test(target));
    const shipped = new Set(['README.md', 'LICENSE', 'package.json']);
    expect(relative.filter((target) => !shipped.has(target))).toEqual([]);
  });
});
