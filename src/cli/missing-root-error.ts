/** `--root` names no directory. Exit code 1. */
export class MissingRootError extends Error {
  constructor(
    readonly root: string,
    option = '--root',
  ) {
    super(`no logs directory at '${root}': pass ${option} DIR (the directory your app gives createStores)`);
    this.name = 'MissingRootError';
  }
}
