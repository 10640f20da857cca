/**
 * Pool entry for one multipart upload: reads the file's parts in order from the main thread's open fd
 * (the same open file whose stat brackets the upload), hashes each part (MD5: its Content-MD5 and the
 * multipart ETag) and the whole file (SHA-256, for the index), and hands each part's bytes to the main
 * thread without a copy (a transferred ArrayBuffer). The main thread only sends: hashing 1 GiB twice is
 * seconds of CPU that would otherwise hold up the event loop every request runs on.
 */
import { createHash } from 'node:crypto';
import { readFully } from '../../common/positioned-io.js';
import type { PartCredit, PartMessage, PartTask } from './part-task.js';

export default async function readParts(task: PartTask): Promise<string> {
  const whole = createHash('sha256');
  const credit = new Credit(task);
  try {
    for (let part = 0, offset = 0; offset < task.size; part++, offset += task.partSize) {
      if (!(await credit.allows(part))) return '';
      const buffer = credit.spare() ?? new ArrayBuffer(task.partSize);
      const body = Buffer.from(buffer, 0, Math.min(task.partSize, task.size - offset));
      readFully(task.fd, body, offset, () => Object.assign(new Error('the file ended before its size at the start'), { code: 'ECHANGED' }));
      whole.update(body);
      const message: PartMessage = { md5: createHash('md5').update(body).digest('base64'), body: buffer, length: body.length };
      task.port.postMessage(message, [buffer]);
    }
    return whole.digest('hex');
  } finally {
    task.port.close();
  }
}

/**
 * How many parts the main thread wants read so far (it bounds the parts held in memory) and the buffers
 * it gave back; a stop message cancels.
 */
class Credit {
  private granted = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly spares: ArrayBuffer[] = [];

  constructor(task: PartTask) {
    task.port.on('message', (credit: PartCredit) => {
      this.granted = credit.parts;
      this.stopped = credit.stop === true;
      if (credit.spare !== undefined) this.spares.push(credit.spare);
      this.wake?.();
    });
  }

  spare(): ArrayBuffer | undefined {
    return this.spares.pop();
  }

  /** Resolves true once part `part` may be read, false if the upload was given up. */
  async allows(part: number): Promise<boolean> {
    while (this.granted <= part && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
    return !this.stopped;
  }
}
