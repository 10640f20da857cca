import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listenForProgress, ProgressReporter, type ProgressMessage } from '../../src/progress/events.js';

/** Every message waiting on `port`, read synchronously so that "nothing was sent" can be asserted. */
function drain(port: MessagePort): ProgressMessage[] {
  const messages: ProgressMessage[] = [];
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) messages.push(m.message as ProgressMessage);
  return messages;
}

describe('ProgressReporter', () => {
  let channel: MessageChannel;
  beforeEach(() => {
    // Only the clock is faked: the reporter throttles by Date.now(), the ports stay real.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    channel = new MessageChannel();
  });
  afterEach(() => {
    channel.port1.close();
    vi.useRealTimers();
  });

  it('posts the first delta at once and holds later ones for 100 ms', () => {
    const reporter = new ProgressReporter(channel.port2);
    reporter.add(10);
    reporter.add(5);
    reporter.add(5, 1);
    expect(drain(channel.port1)).toEqual([{ type: 'progress', bytes: 10, files: 0 }]);
    vi.setSystemTime(1_000_099);
    reporter.add(1);
    expect(drain(channel.port1)).toEqual([]);
    vi.setSystemTime(1_000_100);
    reporter.add(1);
    expect(drain(channel.port1)).toEqual([{ type: 'progress', bytes: 12, files: 1 }]);
  });

  it('flush posts what is pending, and nothing when nothing is', () => {
    const reporter = new ProgressReporter(channel.port2);
    reporter.add(1);
    reporter.add(7, 2);
    reporter.flush();
    reporter.flush();
    expect(drain(channel.port1)).toEqual([
      { type: 'progress', bytes: 1, files: 0 },
      { type: 'progress', bytes: 7, files: 2 },
    ]);
  });

  it.each([
    { title: 'many small chunks', deltas: Array.from({ length: 1000 }, () => [65_536, 0] as const) },
    { title: 'files without bytes', deltas: [[0, 1], [0, 1], [0, 1]] as const },
    { title: 'mixed bytes and files', deltas: [[3, 0], [0, 1], [1 << 20, 1], [5, 0]] as const },
  ])('delivers every byte and file exactly once for $title', ({ deltas }) => {
    const reporter = new ProgressReporter(channel.port2);
    deltas.forEach(([bytes, files], i) => {
      vi.setSystemTime(1_000_000 + i * 7);
      reporter.add(bytes, files);
    });
    reporter.flush();
    const messages = drain(channel.port1);
    const sum = (k: 'bytes' | 'files') => messages.reduce((n, m) => n + m[k], 0);
    expect({ bytes: sum('bytes'), files: sum('files') }).toEqual({
      bytes: deltas.reduce((n, d) => n + d[0], 0),
      files: deltas.reduce((n, d) => n + d[1], 0),
    });
    // Throttled: at most one message per 100 ms of (fake) time, plus the final flush.
    expect(messages.length).toBeLessThanOrEqual(Math.ceil((deltas.length * 7) / 100) + 2);
  });

  it('works without a port (in-process callers that do not watch progress)', () => {
    const reporter = new ProgressReporter(undefined);
    expect(() => {
      reporter.add(5, 1);
      reporter.flush();
    }).not.toThrow();
  });
});

describe('listenForProgress', () => {
  it('feeds every delta from the port into the sink', async () => {
    const { port1, port2 } = new MessageChannel();
    const totals = { bytes: 0, files: 0, calls: 0 };
    const done = new Promise<void>((resolve) => {
      listenForProgress(port1, {
        advance(bytes, files) {
          totals.bytes += bytes;
          totals.files += files;
          if (++totals.calls === 3) resolve();
        },
      });
    });
    port2.postMessage({ type: 'progress', bytes: 100, files: 0 });
    port2.postMessage({ type: 'progress', bytes: 0, files: 2 });
    port2.postMessage({ type: 'progress', bytes: 23, files: 1 });
    await done;
    port1.close();
    expect(totals).toEqual({ bytes: 123, files: 3, calls: 3 });
  });
});
