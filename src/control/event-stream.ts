/**
 * What the daemon does, as a stream of numbered events for `GET /v1/events` (server-sent events). The
 * newest events are kept so that a client that reconnects with Last-Event-ID gets what it missed. Ids
 * are `<boot>-<n>`: after a restart the old ids mean nothing, and a client that sends one gets all
 * that is kept.
 */
import type http from 'node:http';

export interface StreamEvent {
  readonly id: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

const KEPT_EVENTS = 1000;
const HEARTBEAT_MS = 15_000;

export class EventStream {
  private readonly boot = Date.now().toString(36);
  private next = 1;
  private readonly kept: StreamEvent[] = [];
  private readonly listeners = new Set<(event: StreamEvent) => void>();

  publish(type: string, data: Record<string, unknown>): void {
    const event: StreamEvent = { id: `${this.boot}-${this.next++}`, type, data: { at: new Date().toISOString(), ...data } };
    this.kept.push(event);
    if (this.kept.length > KEPT_EVENTS) this.kept.shift();
    for (const listener of this.listeners) listener(event);
  }

  /** Kept events after `lastEventId` (all kept ones when it is not one of this boot's). */
  since(lastEventId: string | undefined): StreamEvent[] {
    const match = lastEventId === undefined ? undefined : /^(.+)-(\d+)$/.exec(lastEventId);
    if (match === null || match === undefined) return lastEventId === undefined ? [] : [...this.kept];
    if (match[1] !== this.boot) return [...this.kept];
    const after = Number(match[2]);
    return this.kept.filter((e) => Number(e.id.slice(this.boot.length + 1)) > after);
  }

  /** Streams to `res` until the client goes away: missed events first (with Last-Event-ID), then live ones. */
  serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': backupd events\n\n');
    const lastId = req.headers['last-event-id'];
    for (const event of this.since(Array.isArray(lastId) ? lastId[0] : lastId)) res.write(format(event));
    const listener = (event: StreamEvent): void => void res.write(format(event));
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.listeners.add(listener);
    req.on('close', () => {
      clearInterval(heartbeat);
      this.listeners.delete(listener);
    });
  }

  /** Ends every open stream (daemon stopping), so that the server can close. */
  closeAll(): void {
    this.listeners.clear();
  }
}

function format(event: StreamEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}
