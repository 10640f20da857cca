// The status page: the JSON API for the tables, the event stream for live progress. No build step.
/* global document, fetch, EventSource, setTimeout, clearTimeout */

const { Node, CSS } = globalThis;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : 'never';
}

async function getJson(path) {
  const res = await fetch(path, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function progressCell(inFlight) {
  if (!inFlight) return el('td', { class: 'muted' }, '—');
  const max = Math.max(inFlight.totalBytes, 1);
  return el(
    'td',
    {},
    el('progress', { max: String(max), value: String(Math.min(inFlight.bytes, max)) }),
    ' ',
    el('span', { class: 'progress-text' }, `${bytes(inFlight.bytes)} of ${bytes(inFlight.totalBytes)}`),
  );
}

function jobRow(job) {
  const label = job.name ?? job.source;
  const run = job.lastRun;
  const failures = (run?.failed ?? []).map((f) => el('div', { class: 'failed' }, `${f.path}: ${f.message} (${f.code})`));
  return el(
    'tr',
    { class: `job healthy-${job.healthy}`, 'data-job': label },
    el('td', {}, el('div', {}, label), el('div', { class: 'muted' }, `→ ${job.dest}`)),
    el('td', {}, el('span', { class: 'state' }, job.state), ...job.problems.map((p) => el('div', { class: 'failed' }, p))),
    el('td', {}, run ? `${when(run.at)}: ${run.filesCopied} copied (${bytes(run.bytesCopied)}), ${run.failed.length} failed` : 'none', ...failures),
    el('td', {}, when(job.lastSuccess)),
    el('td', {}, String(job.pending)),
    progressCell(job.inFlight),
  );
}

function downloadRow(d) {
  const inFlight = d.totalBytes === null ? null : { bytes: d.bytes, totalBytes: d.totalBytes };
  return el('tr', { class: 'download', 'data-id': d.id }, el('td', {}, d.id), el('td', {}, d.output), el('td', {}, d.error ? `${d.state}: ${d.error}` : d.state), progressCell(inFlight));
}

function historyRow(entry) {
  if (entry.type === 'download') return el('tr', {}, el('td', {}, when(entry.at)), el('td', {}, `download ${entry.id} ${entry.output}`), el('td', {}, entry.state));
  if (entry.type === 'snapshot') return el('tr', {}, el('td', {}, when(entry.at)), el('td', {}, `snapshot ${entry.job}`), el('td', {}, `${entry.path}: ${entry.files} files (${bytes(entry.bytesNew)} new)`));
  const result = `${entry.filesCopied} copied (${bytes(entry.bytesCopied)}) in ${entry.durationMs} ms, ${entry.failed.length} failed`;
  return el('tr', {}, el('td', {}, when(entry.at)), el('td', {}, `${entry.full ? 'full sync' : 'run'} ${entry.job}`), el('td', {}, result));
}

let jobsByLabel = new Map();

async function refresh() {
  const [status, history] = await Promise.all([getJson('/v1/status'), getJson('/v1/history?n=20')]);
  $('daemon').textContent = `daemon pid ${status.pid}, up since ${when(status.startedAt)}`;
  jobsByLabel = new Map(status.jobs.map((job) => [job.name ?? job.source, job]));
  $('jobs').replaceChildren(...status.jobs.map(jobRow));
  $('downloads').replaceChildren(...(status.downloads.length ? status.downloads.map(downloadRow) : [el('tr', {}, el('td', { class: 'muted', colspan: '4' }, 'none'))]));
  $('history').replaceChildren(...history.entries.slice().reverse().map(historyRow));
}

let pending;
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => refresh().catch(showError), 200);
}

function showError(err) {
  $('daemon').textContent = `cannot reach the daemon: ${err.message}`;
}

/** A progress event updates its job's row in place: no refetch per tick. */
function onProgress(event) {
  const data = JSON.parse(event.data);
  const job = jobsByLabel.get(data.job);
  if (!job) return;
  job.inFlight = data.inFlight;
  job.state = 'syncing';
  const row = document.querySelector(`tr.job[data-job="${CSS.escape(data.job)}"]`);
  if (row) row.replaceWith(jobRow(job));
}

function listen() {
  const events = new EventSource('/v1/events');
  events.addEventListener('progress', onProgress);
  for (const type of ['run-started', 'run-finished', 'failed', 'paused', 'resumed', 'source-missing', 'source-back', 'watching', 'download-progress', 'download-finished', 'reloaded', 'snapshot-taken', 'warning']) {
    events.addEventListener(type, refreshSoon);
  }
  events.addEventListener('open', refreshSoon);
}

refresh().catch(showError);
listen();
