/**
 * systemd's notify protocol (Type=notify): READY=1, STATUS=<line>, STOPPING=1. Node has no unix datagram
 * sockets, so the messages go through `systemd-notify` (hence NotifyAccess=all in the unit: the sender
 * is a child process). Without NOTIFY_SOCKET (not under systemd) every call does nothing.
 */
import { execFile } from 'node:child_process';

export class SystemdNotifier {
  private readonly enabled: boolean;
  private lastStatus: string | undefined;
  private stopSent = false;
  /** Messages go out one at a time and in order: READY before a later STATUS, STOPPING last. */
  private queue: Promise<void> = Promise.resolve();

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.enabled = Boolean(env.NOTIFY_SOCKET);
  }

  ready(status: string): Promise<void> {
    this.lastStatus = status;
    return this.send(['--ready', `--status=${status}`]);
  }

  /** Sends the status line only when it changed. */
  status(status: string): Promise<void> {
    if (status === this.lastStatus) return this.queue;
    this.lastStatus = status;
    return this.send([`--status=${status}`]);
  }

  /** Once: the stop signal and the end of the daemon both say it. */
  stopping(): Promise<void> {
    if (this.stopSent) return this.queue;
    this.stopSent = true;
    return this.send(['STOPPING=1']);
  }

  private send(args: string[]): Promise<void> {
    if (!this.enabled) return this.queue;
    // --pid: the message is on behalf of the daemon, not of the short-lived systemd-notify process.
    const argv = [`--pid=${process.pid}`, ...args];
    this.queue = this.queue.then(
      () =>
        new Promise<void>((resolve) => {
          // A missing systemd-notify must not stop the daemon: it only loses the status line.
          execFile('systemd-notify', argv, { timeout: 10_000 }, () => resolve());
        }),
    );
    return this.queue;
  }
}
