/** `backup ctl run|pause|resume [<job>] | reload | cancel <id>`: steer the running daemon. */
import { UsageError } from '../common/errors.js';
import type { ReloadAnswer } from '../control/routes.js';
import { ask, jobArgument, noDaemon, socketFor, type ClientOptions } from './control-client.js';
import { say } from './output.js';

export type CtlAction = 'run' | 'pause' | 'resume' | 'reload' | 'cancel';

export async function ctlCommand(action: CtlAction, argument: string | undefined, options: ClientOptions): Promise<number> {
  if (action === 'cancel' && argument === undefined) throw new UsageError('ctl cancel: give the download id (backup status lists them)');
  if (action === 'reload' && argument !== undefined) {
    throw new UsageError(`ctl reload takes no argument (got ${argument})`);
  }
  const socket = await socketFor(options);
  try {
    for (const line of (await perform(socket, action, argument)).split('\n')) say(line);
  } catch (err) {
    return noDaemon(err);
  }
  return 0;
}

async function perform(socket: string, action: CtlAction, argument: string | undefined): Promise<string> {
  switch (action) {
    case 'reload': {
      const { jobs, parallelDownloads, restartNeeded } = (await ask(socket, 'POST', '/v1/reload', {})).body as ReloadAnswer;
      return [`reloaded: ${jobs} job(s), ${parallelDownloads} download(s) at once`, ...restartNeeded.map((note) => `note: ${note}`)].join('\n');
    }
    case 'cancel': {
      const { id, output } = (await ask(socket, 'POST', '/v1/downloads/cancel', { id: argument })).body as { id: string; output: string };
      return `cancelled download ${id} (${output}); its .part and state are kept for a later resume`;
    }
    default: {
      const { jobs } = (await ask(socket, 'POST', `/v1/jobs/${action}`, { ...jobArgument(argument) })).body as { jobs: string[] };
      const verb = { run: 'running', pause: 'paused', resume: 'resumed' }[action];
      return `${verb}: ${jobs.join(', ')}`;
    }
  }
}
