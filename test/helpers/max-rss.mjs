// Preloaded into a CLI under test (NODE_OPTIONS=--import): writes the process's peak RSS in KiB (all
// threads: getrusage's ru_maxrss) to $MAX_RSS_OUT when it exits.
import fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  process.on('exit', () => fs.writeFileSync(process.env.MAX_RSS_OUT, String(process.resourceUsage().maxRSS)));
}
