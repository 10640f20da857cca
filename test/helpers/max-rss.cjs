// Preloaded into a CLI under test (NODE_OPTIONS=--require): writes the process's peak RSS in KiB (all
// threads: getrusage's ru_maxrss) to $MAX_RSS_OUT when it exits.
const { isMainThread } = require('node:worker_threads');
if (isMainThread) {
  process.on('exit', () => require('node:fs').writeFileSync(process.env.MAX_RSS_OUT, String(process.resourceUsage().maxRSS)));
}
