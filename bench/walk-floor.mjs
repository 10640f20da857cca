/**
 * The floor of a no-op rerun for any Node.js tool: `readdirSync` + one `lstatSync` per entry of the
 * source and of dest, nothing planned, compared or written. `bench/run.mjs` times it beside backupd and
 * rsync, so the no-op ratio can be read against what Node itself costs.
 *
 * Usage: node bench/walk-floor.mjs <src> <dest>
 */
import fs from 'node:fs';

function walk(folder) {
  for (const dirent of fs.readdirSync(folder, { withFileTypes: true })) {
    const entry = `${folder}/${dirent.name}`;
    fs.lstatSync(entry);
    if (dirent.isDirectory()) walk(entry);
  }
}

for (const root of process.argv.slice(2)) walk(root);
