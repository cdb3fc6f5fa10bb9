/** A one-line progress bar redrawn in place on a terminal; does nothing when `enabled` is false. */
export class ProgressBar {
  #done = 0;
  #drawn = false;

  constructor(
    readonly stream: NodeJS.WritableStream,
    public total: number,
    readonly label: string,
    readonly enabled: boolean,
  ) {}

  /** Counts one item done and redraws. */
  tick(): void {
    this.set(this.#done + 1, this.total);
  }

  /** Sets how many items are done out of how many (a total that grew as work was found) and redraws. */
  set(done: number, total: number): void {
    this.#done = done;
    this.total = total;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.#done / Math.max(1, this.total)) * width);
    this.stream.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.total}`,
    );
    this.#drawn = true;
  }

  /** Erases the bar so a line can be printed where it was. */
  clear(): void {
    if (this.#drawn) this.stream.write('\r\u001b[2K');
    this.#drawn = false;
  }
}
