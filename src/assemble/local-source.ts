/**
 * A local copy as a BlockSource: a `--from` folder that holds `<name>`, or the copy itself. Blocks are
 * copied on the pool (copy-block.ts: synchronous positioned reads and writes, off the event loop);
 * samples and repair votes are read on the main thread, a window at a time.
 */
import fs from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import { errnoCode, errorData } from '../common/errors.js';
import { displayPath, fsPath, joinRaw, type RawPath } from '../common/raw-path.js';
import { listenForProgress } from '../progress/events.js';
import { expectVersion } from './copy-block.js';
import { SourceError, type BlockRequest, type BlockSource, type SourceInfo, type Transfer, type TransferContext } from './source.js';
import type { BlockResult, BlockTask, SourceVersion } from './types.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Errors after which a local copy is useless: it is gone, or no longer the file it was at the start. */
const GONE = new Set(['ENOENT', 'ELOOP', 'ECHANGED', 'ESHORTREAD', 'ESTALE']);

export class LocalSource implements BlockSource {
  readonly writes = 'direct';
  /** The pool bounds local work (threads x 2 in flight); a source's own share is set by the assembler. */
  readonly slots = Number.POSITIVE_INFINITY;
  label: string;
  private path: RawPath;
  private version: SourceVersion = { size: 0, mtimeMs: 0 };

  /** `from` is an absolute raw path (a folder holding `name`, or the copy); `name` a raw relative path. */
  constructor(
    private readonly from: RawPath,
    private readonly name: RawPath,
  ) {
    this.path = from;
    this.label = displayPath(from);
  }

  open(): Promise<SourceInfo> {
    let stat = statOrCode(this.from);
    if (typeof stat !== 'string' && stat.isDirectory()) {
      this.path = joinRaw(this.from, this.name);
      this.label = displayPath(this.path);
      stat = statOrCode(this.path);
    }
    if (stat === 'ENOENT' || stat === 'ENOTDIR') throw new SourceError('ENOENT', 'does not exist', 'drop');
    if (typeof stat === 'string') throw new SourceError(stat, `cannot be read (${stat})`, 'drop');
    if (!stat.isFile()) throw new SourceError('ENOTFILE', 'is not a regular file', 'drop');
    // Its real path: opened later without following links, so a link swapped in is not read through.
    this.path = fs.realpathSync(fsPath(this.path), { encoding: 'buffer' }).toString('latin1');
    this.version = { size: stat.size, mtimeMs: stat.mtimeMs };
    return Promise.resolve({ size: stat.size, identity: `file:${stat.dev}:${stat.ino}`, ranges: true, validators: {}, mode: stat.mode });
  }

  async read(offset: number, length: number): Promise<Buffer> {
    try {
      const handle = await fs.promises.open(fsPath(this.path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
      try {
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        if (bytesRead !== length) throw Object.assign(new Error('shorter than its size'), { code: 'ESHORTREAD' });
        // Checked after the read: bytes read while the copy changed are not its bytes of the start.
        expectVersion(handle.fd, this.version);
        return buffer;
      } finally {
        await handle.close();
      }
    } catch (err) {
      const { code, message } = errorData(err);
      throw new SourceError(code, message, GONE.has(code) ? 'drop' : 'retry');
    }
  }

  async transfer(request: BlockRequest, context: TransferContext): Promise<Transfer> {
    const result = await this.copyOnPool(request, context);
    if (result.status === 'done') return { kind: 'written', digest: result.sha256, bytesRead: result.bytesRead };
    const extra = { bytesRead: result.bytesRead };
    if (result.side === 'output') throw new SourceError(result.code, result.message, 'output', extra);
    throw new SourceError(result.code, result.message, GONE.has(result.code) ? 'drop' : 'retry', extra);
  }

  private async copyOnPool(request: BlockRequest, context: TransferContext): Promise<BlockResult> {
    const { port1, port2 } = new MessageChannel();
    listenForProgress(port1, { advance: (bytes) => context.onBytes(bytes) });
    const task: BlockTask = {
      source: this.path,
      sourceVersion: this.version,
      part: context.part,
      offset: request.offset,
      length: request.length,
      hash: context.verify,
      port: port2,
    };
    try {
      return (await context.pool().run(task, { transferList: [port2] })) as BlockResult;
    } catch (err) {
      // The worker itself failed (not an fs error, which copyBlock returns as data): try another source.
      return { status: 'failed', side: 'source', ...errorData(err), bytesRead: 0 };
    } finally {
      // A progress message still in flight only moves the bar; counts come from the results.
      setImmediate(() => port1.close());
    }
  }
}

function statOrCode(path: RawPath): fs.Stats | string {
  try {
    return fs.statSync(fsPath(path));
  } catch (err) {
    return errnoCode(err) ?? 'EUNKNOWN';
  }
}
