/**
 * Bytes that may outgrow memory: appended, read back by position. They stay in a buffer until it is
 * full, then go to a temporary file in the given folder (as a rule the dest, which the data is about), so
 * a small run never makes one. The temporary is unlinked as soon as it is open: a crash leaves nothing
 * behind, and its space is freed when the descriptor closes.
 */
import fs from 'node:fs';
import { tempRelFor } from './atomic.js';
import { readFully, writeFully } from './positioned-io.js';
import { fsPath, joinRaw, type RawPath } from './raw-path.js';

const DEFAULT_BUFFER_BYTES = 1 << 20;

export class SpillFile {
  private fd: number | undefined;
  /** Bytes in the file; the buffer holds the ones after them. */
  private flushed = 0;
  private buffer: Buffer;
  private buffered = 0;

  constructor(
    private readonly folder: RawPath,
    bufferBytes = DEFAULT_BUFFER_BYTES,
  ) {
    this.buffer = Buffer.allocUnsafe(bufferBytes);
  }

  get size(): number {
    return this.flushed + this.buffered;
  }

  /** Appends `bytes`; returns the position they start at. */
  append(bytes: Uint8Array): number {
    const at = this.size;
    if (this.buffered + bytes.length > this.buffer.length) this.flush();
    if (bytes.length > this.buffer.length) {
      writeFully(this.file(), bytes, this.flushed);
      this.flushed += bytes.length;
    } else {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
    }
    return at;
  }

  /** Appends a raw string's bytes (one per char); returns where they start. */
  appendRaw(text: RawPath): number {
    if (text.length > this.buffer.length) return this.append(Buffer.from(text, 'latin1'));
    if (this.buffered + text.length > this.buffer.length) this.flush();
    const at = this.size;
    this.buffered += this.buffer.write(text, this.buffered, 'latin1');
    return at;
  }

  /** The raw string (one char per byte) of `length` bytes at `position`, as appendRaw put it there. */
  readRaw(position: number, length: number): RawPath {
    const bytes = Buffer.allocUnsafe(length);
    this.read(bytes, position);
    return bytes.toString('latin1');
  }

  /** Fills `into` with the bytes from `position`. */
  read(into: Uint8Array, position: number): void {
    const fromFile = Math.max(0, Math.min(into.length, this.flushed - position));
    if (fromFile > 0) readFully(this.file(), into.subarray(0, fromFile), position, cutShort);
    if (fromFile < into.length) {
      const start = position + fromFile - this.flushed;
      if (start + into.length - fromFile > this.buffered) throw cutShort();
      into.set(this.buffer.subarray(start, start + into.length - fromFile), fromFile);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.buffer = Buffer.alloc(0);
    this.buffered = 0;
    this.flushed = 0;
  }

  private flush(): void {
    if (this.buffered === 0) return;
    writeFully(this.file(), this.buffer.subarray(0, this.buffered), this.flushed);
    this.flushed += this.buffered;
    this.buffered = 0;
  }

  private file(): number {
    return (this.fd ??= openUnlinkedTemp(this.folder));
  }
}

/**
 * A new file in `folder`, open for reading and writing, already unlinked. Named as a temporary, so that a
 * crash in the instant before the unlink leaves what the next run's clean-up removes.
 */
function openUnlinkedTemp(folder: RawPath): number {
  const file = tempRelFor(joinRaw(folder, 'spill'));
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(fsPath(file), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  fs.unlinkSync(fsPath(file));
  return fd;
}

function cutShort(): Error {
  return Object.assign(new Error('read past the end of a spilled temporary'), { code: 'ESHORTREAD' });
}
