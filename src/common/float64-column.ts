/**
 * A growing column of numbers in one Float64Array (8 bytes each, no per-element object): what a run
 * keeps per entry of a tree with millions of them.
 */
export class Float64Column {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  at(i: number): number {
    return this.data[i] as number;
  }

  /** The values pushed so far (a view: later pushes may or may not show in it). */
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}
