#!/usr/bin/env node
/**
 * The `backup` binary: parses argv, runs a command, maps the outcome to an exit status.
 *   0  everything done
 *   1  finished, but some entries failed (each named on stderr)
 *   2  invalid invocation or input; nothing was written
 *   3  (client commands: status, ctl, assemble --background) no daemon answers on the control socket
 * Command modules are imported only when their command runs, so `--version` and `--help` stay fast.
 */
import fs from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { NothingToDoError, UsageError } from '../common/errors.js';
import { parseKeepCount, parseKeepWithin } from './keep-rules.js';
import { collect, parseByteSize, parseCount, parseDuration, parseInterval, parseMilliseconds, parseSha256, parseThreads } from './options.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function jobsOption(): Option {
  return new Option('-j, --jobs <n>', 'worker threads (default: from the machine, or "threads" in the config)').argParser(parseThreads);
}

function buildProgram(): Command {
  const program = new Command('backup')
    .description('Back up a folder: parallel, incremental, atomic copies.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .argument('[source]', 'folder to back up (none: every job of the config)')
    .argument('[dest]', 'where the copy goes (default: the job\'s dest from the config, else <source>-backup)')
    .option('--to <dir>', 'dest folder, as an option')
    .addOption(jobsOption())
    .option('--exclude <pattern>', 'skip paths matching a gitignore-style pattern (repeatable; default: none)', collect, [])
    .option('--delete', 'remove dest entries that are no longer in the source (default: keep them)', false)
    .option('--checksum', 'compare file contents instead of size and mtime (default: size and mtime)', false)
    .option('--verify', 're-read each copy and compare its hash with the source\'s (default: no re-read)', false)
    .option('--hard-links', 'keep hard-linked files linked in dest (default: separate copies)', false)
    .option('--no-xattrs', 'do not copy extended attributes, ACLs and file capabilities (default: copy them, like cp -a)')
    .option('-x, --one-file-system', 'do not cross mount points; a mount point becomes an empty folder (default: cross them)', false)
    .option('--snapshot', 'dest is a snapshot dest: sync into dest/current, then take a snapshot in dest/snapshots (default: a plain mirror)', false)
    .option('--dry-run', 'list what would be copied, created and deleted; write nothing (default: off)', false)
    .option('--json', 'print one JSON summary object on stdout (default: human text on stderr)', false)
    .option('--quiet', 'no progress bar or summary; errors only (default: progress and summary)', false)
    .option('--config <file>', 'config file (default: $XDG_CONFIG_HOME/backupd/config.json)')
    .addHelpText(
      'after',
      `
Examples:
  backup ~/docs                        copy ~/docs into ~/docs-backup
  backup ~/docs /mnt/usb/docs --delete mirror, removing what was deleted from ~/docs
  backup ~/src --exclude node_modules --exclude '*.log' --to /backups/src
  backup ~/photos --checksum --verify  compare by content, re-read every copy
  backup / /mnt/usb/root -x --hard-links   the system's own filesystem, not /proc or other mounts
  backup ~/share /mnt/nas/share --no-xattrs  to a filesystem that takes no extended attributes
  backup --dry-run ~/docs              show what would happen
  backup ~/docs /mnt/usb/docs --snapshot  sync into /mnt/usb/docs/current, then snapshot it
  backup                               run every job of the config file

Exit status: 0 done, 1 some entries failed (each named), 2 bad input (nothing written).`,
    )
    .action(async (source: string | undefined, dest: string | undefined, options) => {
      const { backupCommand } = await import('./backup-command.js');
      process.exitCode = await backupCommand(source, dest, options);
    })
    // Without this the program's own options (--exclude, --delete) would swallow the subcommand's.
    .enablePositionalOptions();
  program.addCommand(watchCommand());
  program.addCommand(assembleCommand());
  // Snapshots: restore and prune; snapshots, versions and diff.
  program.addCommand(restoreCommand());
  program.addCommand(pruneCommand());
  for (const command of controlCommands()) program.addCommand(command);
  for (const command of snapshotCommands()) program.addCommand(command);
  return program;
}

/** Read-only questions about a snapshot dest (issue 9): snapshots, versions, diff. */
function snapshotCommands(): Command[] {
  const snapshots = new Command('snapshots')
    .description('List the snapshots of a snapshot dest, oldest first: time, files, bytes, bytes only it holds.')
    .helpOption('-h, --help', 'show this help')
    .argument('<dest>', 'a snapshot dest (made by backup <src> <dest> --snapshot)')
    .option('--json', 'print a JSON array [{"name","time","files","bytes","uniqueBytes","failed"}] (default: one line per snapshot)', false)
    .addHelpText('after', `
Examples:
  backup snapshots /mnt/usb/docs
  backup snapshots /mnt/usb/docs --json

Exit status: 0 listed, 2 not a snapshot dest.`)
    .action(async (dest: string, options) => {
      const { snapshotsCommand } = await import('./snapshot-commands.js');
      process.exitCode = snapshotsCommand(dest, options);
    });
  const versions = new Command('versions')
    .description('Every distinct version of one file in the snapshots and versions/ of a snapshot dest, oldest first.')
    .helpOption('-h, --help', 'show this help')
    .argument('<dest>', 'a snapshot dest')
    .argument('<path>', 'the file, relative to the backed-up folder (e.g. docs/report.txt)')
    .option('--json', 'print a JSON array [{"time","size","mtime","path"}]; path is where that version can be read (default: one line per version)', false)
    .addHelpText('after', `
Examples:
  backup versions /mnt/usb/docs notes/todo.txt
  backup versions /mnt/usb/docs notes/todo.txt --json

Exit status: 0 listed, 2 not a snapshot dest or no version of that path.`)
    .action(async (dest: string, file: string, options) => {
      const { versionsCommand } = await import('./snapshot-commands.js');
      process.exitCode = versionsCommand(dest, file, options);
    });
  const diff = new Command('diff')
    .description('Paths added (+), removed (-) and changed (~) from snapshot <a> to snapshot <b>.')
    .helpOption('-h, --help', 'show this help')
    .argument('<dest>', 'a snapshot dest')
    .argument('[a]', 'the older snapshot (default: the second newest)')
    .argument('[b]', 'the newer snapshot (default: latest)')
    .option('--json', 'print {"from","to","added":[],"removed":[],"changed":[]} (default: one "+ path", "- path" or "~ path" line each)', false)
    .addHelpText('after', `
Examples:
  backup diff /mnt/usb/docs                                   the two newest snapshots
  backup diff /mnt/usb/docs 2026-12-01T000000Z                that one against latest
  backup diff /mnt/usb/docs 2026-12-01T000000Z 2026-12-02T000000Z --json

Exit status: 0 compared, 2 not a snapshot dest or no such snapshot.`)
    .action(async (dest: string, a: string | undefined, b: string | undefined, options) => {
      const { diffCommand } = await import('./snapshot-commands.js');
      process.exitCode = await diffCommand(dest, a, b, options);
    });
  return [snapshots, versions, diff];
}

function watchCommand(): Command {
  return new Command('watch')
    .description('Back up a folder now, then copy every change within seconds until stopped (SIGINT/SIGTERM).')
    .helpOption('-h, --help', 'show this help')
    .argument('[source]', 'folder to watch (none: every job of the config, in one process)')
    .argument('[dest]', 'where the copy goes (default: the job\'s dest from the config, else <source>-backup)')
    .option('--delete', 'propagate deletions (default: a file deleted in the source stays in dest)', false)
    .option('--exclude <pattern>', 'skip paths matching a gitignore-style pattern (repeatable; default: none)', collect, [])
    .option('--config <file>', 'config file (default: $XDG_CONFIG_HOME/backupd/config.json); SIGHUP reloads it')
    .addOption(new Option('--settle <ms>', 'copy a file once it has not changed for this long (default: "settleMs" in the config, 300)').argParser(parseMilliseconds))
    .addOption(new Option('--log-format <format>', 'log lines as human text or JSON (default: "logFormat" in the config, text)').choices(['text', 'json']))
    .addOption(new Option('--log-level <level>', 'least important lines to log; debug adds a line per file of the initial sync and re-scans').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(jobsOption())
    .addOption(controlOption())
    .option('--http <host:port>', 'serve the status page, JSON API, /healthz and /metrics here (default: "http" in the config; loopback only)')
    .addOption(new Option('--snapshot-every <duration>', 'dest is a snapshot dest: sync into dest/current, snapshot every interval in which something changed, e.g. 1h (default: a plain mirror)').argParser(parseInterval))
    .addOption(new Option('--keep-versions <duration>', 'with --snapshot-every: keep files replaced or deleted in current/ this long in dest/versions (default: 30d)').argParser(parseInterval))
    .addHelpText(
      'after',
      `
Examples:
  backup watch ~/docs                         sync ~/docs into ~/docs-backup, then every change
  backup watch ~/docs --log-level debug       also log every file the initial sync copies
  backup watch ~/docs /mnt/usb/docs --snapshot-every 1h --keep-versions 14d
  backup watch ~/docs /mnt/usb/docs --delete  mirror, deletions included
  backup watch ~/src --exclude node_modules --settle 1000
  backup watch --log-format json              watch every job of the config; JSON log lines
  backup watch --http 127.0.0.1:8470          also serve the status page (backup status --url opens it)
  systemctl --user enable --now backupd       run it as a service (see config/backupd.service)

Logs one line per event on stdout (copied, deleted, failed); the initial sync and re-scans of new
folders log one summary line each (per file with --log-level debug). Exit status: 0 stopped by
SIGINT/SIGTERM, 1 the watch could not go on (e.g. inotify limit), 2 bad input (nothing written).`,
    )
    .action(async (source: string | undefined, dest: string | undefined, options) => {
      const { watchCommand } = await import('./watch-command.js');
      process.exitCode = await watchCommand(source, dest, options);
    });
}

function assembleCommand(): Command {
  return new Command('assemble')
    .description('Build one file from several copies of it (local or on HTTP(S) mirrors), reading different blocks from each in parallel; verified, repaired, resumable.')
    .helpOption('-h, --help', 'show this help')
    .argument('[name]', 'the file: looked up as <src>/<name> in each --from folder (or <url><name> for a URL ending in /); the output is named after it (default: the --metalink file\'s name)')
    .option('--from <src...>', 'folders that may hold <name>, paths to copies of the file, or http(s) URLs of it (or of its folder, ending in /)', [])
    .option('--metalink <file|url>', 'a Metalink 4 or 3 file: name, size, sha256, piece hashes and mirrors (--from adds sources)')
    .option('--checksums <file|url>', "a SHA256SUMS-style list (GNU or BSD format) in which <name>'s sha256 is looked up")
    .option('-o, --output <file>', 'where the file goes, or the folder it goes in (default: ./<basename of name>)')
    .addOption(new Option('--block-size <size>', 'bytes per block, e.g. 4MiB, 512k, 1G (default: "blockSize" in the config, 8MiB)').argParser(parseByteSize))
    .addOption(new Option('--sha256 <hex>', 'expected sha256 of the result; on a mismatch nothing is kept').argParser(parseSha256))
    .addOption(jobsOption())
    .addOption(new Option('--limit-rate <size>', 'read at most this many bytes per second, e.g. 50MiB').argParser(parseByteSize))
    .option('--header <header>', "extra HTTP request header 'Name: value' for URL sources (repeatable; never printed)", collect, [])
    .addOption(new Option('--max-per-host <n>', 'at most this many connections to one host').argParser(parseThreads).default(4))
    .addOption(new Option('--stall-timeout <duration>', 'a URL source that sends nothing for this long loses its block to another source, e.g. 20s, 500ms').argParser(parseDuration).default(20_000, '20s'))
    .option('--force', 'replace an existing output file (default: refuse)', false)
    .option('--json', 'print one JSON summary object on stdout (default: human text on stderr)', false)
    .option('--quiet', 'no progress bar, notes or summary; errors only (default: progress and summary)', false)
    .option('--config <file>', 'config file (default: $XDG_CONFIG_HOME/backupd/config.json)')
    .option('--background', 'hand the download to the running daemon (backup watch), print its id and return', false)
    .addOption(controlOption())
    .addHelpText(
      'after',
      `
Examples:
  backup assemble disk.img --from /mnt/a /mnt/b /mnt/c     ./disk.img from three mirror folders
  backup assemble iso/debian.iso --from /mirror1 /mirror2 -o /tmp/debian.iso --sha256 <hex>
  backup assemble big.tar --from ~/Downloads/big.tar /mnt/nas/big.tar --block-size 16MiB
  backup assemble big.tar --from /mnt/a /mnt/b --limit-rate 50MiB   leave bandwidth for others
  backup assemble debian.iso --from https://m1.example/debian/ https://m2.example/debian/ /mnt/usb --sha256 <hex>
  backup assemble vm.img --from https://nas.local/share/vm.img --header 'Authorization: Bearer <token>'
  backup assemble big.iso --from http://a/big.iso http://b/big.iso --max-per-host 8 --stall-timeout 10s
  backup assemble big.tar --from /mnt/a /mnt/b --background         the daemon downloads it; prints the id
  backup assemble --metalink https://example.org/distro.iso.meta4 -o ~/Downloads/
  backup assemble distro.iso --from https://m1.example/iso/ --checksums https://m1.example/iso/SHA256SUMS

Give <name> before --from (--from takes every path that follows it). An interrupted run leaves
<output>.part and <output>.part.state; the same command continues where it stopped (a URL source whose
ETag or Last-Modified changed meanwhile is dropped). If the result's sha256 does not match --sha256,
every block is compared with the other sources and the majority's bytes repair it in place.
HTTPS uses Node's and the system's CA store and NODE_EXTRA_CA_CERTS; http_proxy, HTTPS_PROXY and
NO_PROXY are honoured as curl does.

Exit status: 0 done, 1 not finished or checksum mismatch (each cause named), 2 bad input or no source.`,
    )
    .action(async (name: string | undefined, options) => {
      if (options.background) {
        // The daemon's queue follows a download by its output's .part.state, so the name must be given.
        if (name === undefined) throw new UsageError('--background needs the <name> of the file, also with --metalink');
        const { backgroundCommand } = await import('./background-command.js');
        process.exitCode = await backgroundCommand(name, options, process.argv);
        return;
      }
      const { assembleCommand } = await import('./assemble-command.js');
      process.exitCode = await assembleCommand(name, options);
    });
}

function restoreCommand(): Command {
  return new Command('restore')
    .description('Copy a snapshot, or some paths of it, out of a snapshot dest (or an s3:// backup) into a folder.')
    .helpOption('-h, --help', 'show this help')
    .argument('<dest>', 'the snapshot dest (the folder holding snapshots/), or s3://bucket/prefix')
    .argument('[snapshot]', 'snapshot name, e.g. 2026-12-02T014500Z, or "latest" (default: latest)')
    .argument('[path...]', 'paths relative to the backed-up root (default: everything)')
    .requiredOption('--to <dir>', 'folder to restore into (never inside <dest>)')
    .option('--overwrite', 'restore into a non-empty folder; every file replaced is kept aside, never lost', false)
    .option('--dry-run', 'list what would be restored and kept aside; write nothing', false)
    .option('--json', 'print one JSON summary object on stdout', false)
    .option('--quiet', 'no progress bar or summary; errors only', false)
    .addOption(jobsOption())
    .option('--config <file>', 'config file: an s3:// source uses the endpoint, pathStyle and region of the job whose dest holds it')
    .addHelpText(
      'after',
      `
Examples:
  backup restore /mnt/usb/docs --to ~/docs-restored              the newest snapshot, all of it
  backup restore /mnt/usb/docs 2026-12-01T020000Z --to /tmp/r   one snapshot
  backup restore /mnt/usb/docs latest notes/todo.txt photos --to ~/docs --overwrite
  backup restore /mnt/usb/docs 2026-12-01T020000Z --to /tmp/r --dry-run
  backup restore s3://my-bucket/home docs/notes --to ~ --overwrite     from a bucket: no snapshot argument

A first argument that is not "latest" and not a snapshot name is taken as a path of the newest snapshot.
Paths land at the same place below --to. With --overwrite, each file that would be replaced is first kept
in --to/.backupd-restore-<UTC time>/ at the same relative path (the summary names the folder); files
already equal to the snapshot's (size and mtime) are left alone, so a rerun keeps nothing aside again.

Exit status: 0 done, 1 some entries failed (each named), 2 bad input (nothing written).`,
    )
    .action(async (dest: string, snapshot: string | undefined, paths: string[], options) => {
      const { restoreCommand } = await import('./restore-command.js');
      process.exitCode = await restoreCommand(dest, snapshot, paths, options);
    });
}

function pruneCommand(): Command {
  const count = (flag: string, what: string) => new Option(`--keep-${flag} <n>`, what).argParser(parseKeepCount);
  return new Command('prune')
    .description("Remove the snapshots that no keep rule keeps (restic's rules; the newest is always kept).")
    .helpOption('-h, --help', 'show this help')
    .argument('<dest>', 'the snapshot dest (must hold the .backupd marker)')
    .addOption(count('last', 'keep the n newest snapshots'))
    .addOption(count('hourly', 'keep the newest snapshot of each of the n most recent hours that have one'))
    .addOption(count('daily', 'likewise for days (UTC)'))
    .addOption(count('weekly', 'likewise for ISO weeks (Monday to Sunday, UTC)'))
    .addOption(count('monthly', 'likewise for months'))
    .addOption(count('yearly', 'likewise for years'))
    .addOption(new Option('--keep-within <duration>', 'keep every snapshot younger than this, counted back from the newest: 7d, 36h, 1y6m').argParser(parseKeepWithin))
    .option('--dry-run', 'say what would be kept and removed, and why; remove nothing', false)
    .option('--json', 'print {"kept":[{"name","reasons"}],"removed":[{"name"}]} on stdout', false)
    .option('--quiet', 'no summary line; errors only', false)
    .addHelpText(
      'after',
      `
Examples:
  backup prune /mnt/usb/docs --keep-last 3 --dry-run        show what would go, and why the rest stays
  backup prune /mnt/usb/docs --keep-daily 7 --keep-weekly 5 --keep-monthly 12
  backup prune /mnt/usb/docs --keep-within 30d --json

Rules are OR'ed; a rule of 0 is no rule; at least one rule is required. Periods are UTC.

Exit status: 0 done, 1 some snapshot could not be removed (each named), 2 bad input (nothing removed).`,
    )
    .action(async (dest: string, options) => {
      const { pruneCommand } = await import('./prune-command.js');
      process.exitCode = await pruneCommand(dest, options);
    });
}

// --- control plane: `backup status`, `ctl`, `log` (src/control/) ---

function controlOption(): Option {
  return new Option('--control <path>', 'the daemon\'s control socket (default: "control" in the config, else $XDG_RUNTIME_DIR/backupd/control.sock)');
}

function controlCommands(): Command[] {
  const status = new Command('status')
    .description('Ask the running daemon (backup watch) how every job and background download is doing.')
    .helpOption('-h, --help', 'show this help')
    .option('--json', 'print the status as one JSON object', false)
    .option('--url', 'print the status page\'s login link (it holds the token; the daemon needs --http)', false)
    .addOption(controlOption())
    .option('--config <file>', 'config file (for "control")')
    .addHelpText(
      'after',
      `
Examples:
  backup status                       jobs: state, last run, failures, progress; downloads
  backup status --json | jq '.jobs[] | {source, state, lastSuccess}'
  backup status --control /run/backupd/control.sock
  xdg-open "$(backup status --url)"   open the status page (sets its cookie)

Exit status: 0 every job healthy, 1 some job failing or stale (last success older than its "maxAge"),
3 no daemon answers (the socket it tried is named).`,
    )
    .action(async (options) => {
      const { statusCommand } = await import('./status-command.js');
      process.exitCode = await statusCommand(options);
    });
  const ctl = new Command('ctl')
    .description('Steer the running daemon: run a job now, pause or resume jobs, reload the config, cancel a download.')
    .helpOption('-h, --help', 'show this help')
    .addArgument(new Argument('<action>', 'what to do').choices(['run', 'pause', 'resume', 'reload', 'cancel']))
    .argument('[target]', 'a job (its name or source path; none: every job), or the download id for cancel')
    .addOption(controlOption())
    .option('--config <file>', 'config file (for "control")')
    .addHelpText(
      'after',
      `
Examples:
  backup ctl pause ~/photos      stop copying ~/photos (changes are still collected); survives a restart
  backup ctl resume              resume every job
  backup ctl run docs            a full sync of the job named "docs" now
  backup ctl reload              re-read the config; a broken one is refused and the old one kept
  backup ctl cancel d1           stop background download d1 (its .part is kept)

Exit status: 0 done, 2 refused (unknown job, broken config; the reason is printed), 3 no daemon answers.`,
    )
    .action(async (action, target: string | undefined, options) => {
      const { ctlCommand } = await import('./ctl-command.js');
      process.exitCode = await ctlCommand(action, target, options);
    });
  const log = new Command('log')
    .description('Show the history of runs and background downloads (kept across restarts in $XDG_STATE_HOME/backupd/).')
    .helpOption('-h, --help', 'show this help')
    .argument('[job]', 'only this job (its name or source path)')
    .option('--json', 'one JSON object per line', false)
    .addOption(new Option('-n, --lines <n>', 'the newest n entries (default 20)').argParser(parseCount))
    .addOption(controlOption())
    .option('--config <file>', 'config file (for "control")')
    .addHelpText(
      'after',
      `
Examples:
  backup log                     the last 20 runs and downloads
  backup log -n 100 ~/docs       the last 100 runs of the ~/docs job
  backup log --json | jq 'select(.failed | length > 0)'

Without a running daemon the history is read from the state folder. Exit status: 0, 2 bad input.`,
    )
    .action(async (job: string | undefined, options) => {
      const { logCommand } = await import('./log-command.js');
      process.exitCode = await logCommand(job, options);
    });
  return [status, ctl, log];
}

// --- end of the control plane's commands ---

/**
 * Flags say their default in words; commander would add "(default: false)" after every one of them (and
 * "(default: [])" after repeatable options). Choices, and the defaults of options that take a value
 * (--max-per-host 4, --stall-timeout 20s), are still shown.
 */
function describeOptionsInWords(command: Command): void {
  command.configureHelp({
    optionDescription: (option) => {
      const extra: string[] = [];
      if (option.argChoices) extra.push(`choices: ${option.argChoices.join(', ')}`);
      const value = option.defaultValue as unknown;
      const shown = option.defaultValueDescription ?? (typeof value === 'number' || typeof value === 'string' ? String(value) : undefined);
      if (!option.isBoolean() && shown !== undefined) extra.push(`default: ${shown}`);
      return extra.length > 0 ? `${option.description} (${extra.join('; ')})` : option.description;
    },
  });
  for (const sub of command.commands) describeOptionsInWords(sub);
}

/** Commander's own errors ("unknown option") become one `backup:` line and exit 2. */
function configureErrors(command: Command): void {
  command.exitOverride();
  command.configureOutput({
    outputError: (text, write) => write(`backup: ${text.replace(/^error: /, '').trim()}\n`),
  });
  for (const sub of command.commands) configureErrors(sub);
}

/** `backup --help | head` closes the pipe early: that is the reader's choice, not an error of ours. */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

async function main(argv: readonly string[]): Promise<void> {
  exitQuietlyOnClosedPipe(process.stdout);
  const program = buildProgram();
  configureErrors(program);
  describeOptionsInWords(program);
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    process.exitCode = exitCodeFor(err, program);
  }
}

function exitCodeFor(err: unknown, program: Command): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
  if (err instanceof UsageError) {
    process.stderr.write(`backup: ${err.message}\n`);
    if (err instanceof NothingToDoError) process.stderr.write(`\n${program.helpInformation()}`);
    return EXIT_USAGE;
  }
  process.stderr.write(`backup: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT_FAILED;
}

await main(process.argv);
