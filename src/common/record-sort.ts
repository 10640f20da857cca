/**
 * Sorting more records than should be held in memory: fixed-width records of numbers, sorted by their
 * first number. Records gather in a run of bounded size; a full run is sorted and spilled to a temporary
 * file, and the runs are merged as they are read back. A sort that never fills a run never touches disk.
 *
 * The runs go to a SpillFile: an unlinked temporary, made only once a run is spilled.
 */
import type { RawPath } from './raw-path.js';
import { SpillFile } from './spill-file.js';

/** Records per run: 64 Ki records of 8 numbers are 4 MiB of run, plus 256 KiB of sort order. */
const DEFAULT_RUN_RECORDS = 1 << 16;
/** Records read from a spilled run at a time, per run, while merging. */
const READ_RECORDS = 1024;

export interface RecordSortOptions {
  /** Numbers per record; the first is the sort key. */
  readonly width: number;
  /** Where the spilled runs go (a folder on the filesystem that will hold the result, typically). */
  readonly tempFolder: RawPath;
  readonly runRecords?: number;
}

/** A sorted stream's visitor: `record` is a view, valid only during the call. */
export type RecordVisitor = (record: Float64Array) => void;

export class RecordSorter {
  private readonly width: number;
  private readonly runRecords: number;
  private run: Float64Array;
  private inRun = 0;
  private readonly spilled: { readonly position: number; readonly records: number }[] = [];
  private spill: SpillFile | undefined;
  count = 0;

  constructor(private readonly options: RecordSortOptions) {
    this.width = options.width;
    this.runRecords = options.runRecords ?? DEFAULT_RUN_RECORDS;
    // Grown as records come, up to a full run: a small tree's sort costs little more than its records.
    this.run = new Float64Array(Math.min(this.runRecords, READ_RECORDS) * this.width);
  }

  add(record: ArrayLike<number>): void {
    const at = this.inRun * this.width;
    if (at === this.run.length) this.growRun();
    this.run.set(record, at);
    this.count++;
    if (++this.inRun === this.runRecords) this.spillRun();
  }

  /** Visits every record in key order (equal keys in the order they were added), then frees the sort. */
  drain(visit: RecordVisitor): void {
    try {
      if (this.spilled.length === 0) this.visitRun(visit);
      else {
        if (this.inRun > 0) this.spillRun();
        this.run = new Float64Array(0);
        this.merge(visit);
      }
    } finally {
      this.close();
    }
  }

  /** Frees the sort without reading it (a run that stops early). */
  close(): void {
    this.spill?.close();
    this.spill = undefined;
    this.run = new Float64Array(0);
  }

  private growRun(): void {
    const grown = new Float64Array(Math.min(this.runRecords, 2 * (this.run.length / this.width)) * this.width);
    grown.set(this.run);
    this.run = grown;
  }

  private sortedOrder(): Uint32Array {
    const { run, width } = this;
    const order = new Uint32Array(this.inRun);
    for (let i = 0; i < order.length; i++) order[i] = i;
    // Ties by position: the order equal keys were added in.
    return order.sort((x, y) => (run[x * width] as number) - (run[y * width] as number) || x - y);
  }

  private visitRun(visit: RecordVisitor): void {
    const { run, width } = this;
    for (const i of this.sortedOrder()) visit(run.subarray(i * width, (i + 1) * width));
  }

  private spillRun(): void {
    const { run, width } = this;
    const spill = (this.spill ??= new SpillFile(this.options.tempFolder));
    const out = new Float64Array(Math.min(this.inRun, READ_RECORDS) * width);
    const order = this.sortedOrder();
    const position = spill.size;
    for (let start = 0; start < order.length; start += READ_RECORDS) {
      const end = Math.min(order.length, start + READ_RECORDS);
      for (let k = start; k < end; k++) {
        const i = order[k] as number;
        out.set(run.subarray(i * width, (i + 1) * width), (k - start) * width);
      }
      spill.append(new Uint8Array(out.buffer, 0, (end - start) * width * 8));
    }
    this.spilled.push({ position, records: order.length });
    this.inRun = 0;
  }

  /** A k-way merge of the spilled runs through a binary heap of their current records. */
  private merge(visit: RecordVisitor): void {
    const readers = this.spilled.map((run, rank) => new RunReader(this.spill as SpillFile, run.position, run.records, this.width, rank));
    const heap = new RunHeap(readers);
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      visit(top.current());
      top.advance();
      heap.fix();
    }
  }
}

/** One spilled run, read back a block of records at a time. */
class RunReader {
  private readonly block: Float64Array;
  private blockStart = 0;
  private blockRecords = 0;
  /** Index of the current record within the run. */
  next = 0;

  constructor(
    private readonly spill: SpillFile,
    private readonly position: number,
    readonly records: number,
    private readonly width: number,
    /** The run's place among the runs: it breaks ties between equal keys (earlier runs hold earlier records). */
    readonly rank: number,
  ) {
    this.block = new Float64Array(READ_RECORDS * width);
    this.load();
  }

  get done(): boolean {
    return this.next >= this.records;
  }

  key(): number {
    return this.block[(this.next - this.blockStart) * this.width] as number;
  }

  current(): Float64Array {
    const at = (this.next - this.blockStart) * this.width;
    return this.block.subarray(at, at + this.width);
  }

  advance(): void {
    this.next++;
    if (!this.done && this.next >= this.blockStart + this.blockRecords) this.load();
  }

  private load(): void {
    this.blockStart = this.next;
    this.blockRecords = Math.min(READ_RECORDS, this.records - this.next);
    const bytes = new Uint8Array(this.block.buffer, 0, this.blockRecords * this.width * 8);
    this.spill.read(bytes, this.position + this.next * this.width * 8);
  }
}

/** The runs not yet done, smallest current key first (ties: the earlier run, which holds the earlier records). */
class RunHeap {
  private readonly heap: RunReader[];

  constructor(readers: readonly RunReader[]) {
    this.heap = readers.filter((reader) => !reader.done);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  peek(): RunReader | undefined {
    return this.heap[0];
  }

  /** The top reader advanced: drop it if done, else move it down to its place. */
  fix(): void {
    const top = this.heap[0] as RunReader;
    if (top.done) {
      const last = this.heap.pop() as RunReader;
      if (this.heap.length === 0) return;
      this.heap[0] = last;
    }
    this.down(0);
  }

  private before(a: RunReader, b: RunReader): boolean {
    const ka = a.key();
    const kb = b.key();
    return ka < kb || (ka === kb && a.rank < b.rank);
  }

  private down(i: number): void {
    const { heap } = this;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.before(heap[left] as RunReader, heap[smallest] as RunReader)) smallest = left;
      if (right < heap.length && this.before(heap[right] as RunReader, heap[smallest] as RunReader)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest] as RunReader, heap[i] as RunReader];
      i = smallest;
    }
  }
}
