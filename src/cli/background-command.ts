/**
 * `backup assemble ... --background`: hand the download to the running daemon, print its id, return.
 * The daemon runs this same command line in this folder (as `backup assemble`), so every option of
 * assemble works, and means the same, in the background.
 */
import path from 'node:path';
import { redactUrl } from '../common/redact-url.js';
import { expandHome } from '../config/load.js';
import type { DownloadStatus } from '../control/types.js';
import { ask, noDaemon, socketFor, type ClientOptions } from './control-client.js';
import { printJson, say } from './output.js';

export interface BackgroundOptions extends ClientOptions {
  readonly from?: readonly string[];
  readonly output?: string;
  readonly json: boolean;
}

export async function backgroundCommand(name: string, options: BackgroundOptions, argv: readonly string[]): Promise<number> {
  const request = {
    argv: assembleArguments(argv),
    cwd: process.cwd(),
    output: path.resolve(expandHome(options.output ?? path.basename(name))),
    // For the list only, so credentials in a URL are left out; the child gets the arguments as typed.
    sources: (options.from ?? []).map((from) => (isUrl(from) ? redactUrl(from) : path.resolve(expandHome(from)))),
  };
  let download: DownloadStatus;
  try {
    download = (await ask(await socketFor(options), 'POST', '/v1/downloads', request)).body as DownloadStatus;
  } catch (err) {
    return noDaemon(err);
  }
  if (options.json) printJson(download);
  else {
    process.stdout.write(`${download.id}\n`);
    say(`download ${download.id} of ${download.output} ${download.state} in the daemon: backup status shows its progress, backup ctl cancel ${download.id} stops it`);
  }
  return 0;
}

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

/** The arguments after `assemble`, without the ones that only concern the hand-over. */
function assembleArguments(argv: readonly string[]): string[] {
  const rest = argv.slice(argv.indexOf('assemble') + 1);
  const kept: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--background' || arg.startsWith('--control=')) continue;
    if (arg === '--control') {
      i++;
      continue;
    }
    kept.push(arg);
  }
  return kept;
}
