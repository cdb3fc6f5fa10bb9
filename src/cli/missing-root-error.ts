/** `--root` names no directory. Exit code 1. */
export class MissingRootError extends Error {
  constructor(readonly root: string) {
    super(`no logs directory at '${root}': pass --root DIR (the directory your app gives createStores)`);
    this.name = 'MissingRootError';
  }
}
