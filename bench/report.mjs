/**
 * The bench's output: machine facts and the Markdown table (medians, ranges, ratios, targets).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function firstLine(cmd, args) {
  const out = spawnSync(cmd, args, { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.split('\n')[0].trim() : undefined;
}

export function loadAverage() {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

export function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown CPU';
  return {
    cpu: `${model}, ${os.availableParallelism()} cores`,
    ram: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    kernel: `Linux ${os.release()}`,
    node: process.version,
  };
}

export function toolVersion(cmd, args = ['--version']) {
  return firstLine(cmd, args);
}

const seconds = (ms) => (ms / 1000).toFixed(3);
const ratio = (a, b) => (a / b).toFixed(2);

function statsOf(runs) {
  const ms = runs.map((r) => r.ms);
  const synced = runs.map((r) => r.ms + r.syncMs);
  const rss = runs.map((r) => r.rssKb).filter((v) => v !== undefined);
  const cpu = runs.map((r) => r.cpuMs).filter((v) => v !== undefined);
  return {
    cpu: cpu.length > 0 ? median(cpu) : undefined,
    median: median(ms),
    min: Math.min(...ms),
    max: Math.max(...ms),
    medianSynced: median(synced),
    rssMb: rss.length > 0 ? Math.max(...rss) / 1024 : undefined,
  };
}

/**
 * results: [{ workload, title, tools: [{ name, runs: [{ ms, syncMs, rssKb }] , note }], target, notes }]
 * Returns the Markdown text.
 */
export function renderReport({ mode, date, machine, setup, versions, results, startup, notes, load, issue = 5 }) {
  const lines = [];
  lines.push(`### backupd benchmark${mode.endsWith('quick') ? ' (quick mode: smaller data, not comparable with the full table)' : ''}`);
  lines.push('');
  lines.push(`${date} · ${machine.cpu} · ${machine.ram} · ${machine.kernel} · Node ${machine.node}`);
  lines.push('');
  lines.push(`Tools: ${versions.join(' · ')}`);
  lines.push('');
  for (const line of setup) lines.push(`- ${line}`);
  lines.push(`- Load average (1/5/15 min) at start: ${load.start}; at end: ${load.end}.`);
  lines.push('');
  lines.push('| workload | tool | median s | min–max s | median s incl. syncfs | CPU s (user+sys) | peak RSS MB | backupd ÷ tool | ÷ incl. syncfs |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const targets = [];
  for (const w of results) {
    const measured = w.tools.filter((t) => t.runs.length > 0);
    const stats = new Map(measured.map((t) => [t.name, statsOf(t.runs)]));
    const ours = stats.get('backupd');
    for (const t of w.tools) {
      const s = stats.get(t.name);
      if (s === undefined) {
        lines.push(`| ${w.title} | ${t.name} | ${t.note ?? 'not run'} | | | | | | |`);
        continue;
      }
      const versus = ours !== undefined && t.name !== 'backupd' ? [ratio(ours.median, s.median), ratio(ours.medianSynced, s.medianSynced)] : ['', ''];
      const rss = s.rssMb === undefined ? 'n/a' : s.rssMb.toFixed(0);
      const cpu = s.cpu === undefined ? 'n/a' : seconds(s.cpu);
      lines.push(
        `| ${w.title} | ${t.name} | ${seconds(s.median)} | ${seconds(s.min)}–${seconds(s.max)} | ${seconds(s.medianSynced)} | ${cpu} | ${rss} | ${versus[0]} | ${versus[1]} |`,
      );
    }
    for (const target of w.targets ?? []) targets.push(judge(target, w, stats));
  }
  if (startup !== undefined) {
    lines.push('');
    lines.push(
      `Start-up: \`backup --version\` median ${(startup.backupd).toFixed(0)} ms, \`node -e 0\` median ${startup.node.toFixed(0)} ms (${startup.runs} runs each, alternating).`,
    );
  }
  lines.push('');
  lines.push(`| target (issue ${issue}) | measured (command alone) | result | for reference: incl. syncfs |`);
  lines.push('| --- | ---: | --- | ---: |');
  for (const t of targets) lines.push(`| ${t.label} | ${t.measured} | ${t.result} | ${t.synced ?? ''} |`);
  if (notes.length > 0) {
    lines.push('');
    for (const note of notes) lines.push(`- ${note}`);
  }
  return `${lines.join('\n')}\n`;
}

/** target: { kind: 'ratio', peer, max } or { kind: 'rss', maxMb } */
function judge(target, workload, stats) {
  const ours = stats.get('backupd');
  if (target.kind === 'rss') {
    const label = `peak RSS, ${workload.title}: ≤ ${target.maxMb} MB`;
    if (ours?.rssMb === undefined) return { label, measured: 'n/a', result: 'not measured' };
    return { label, measured: `${ours.rssMb.toFixed(0)} MB`, result: ours.rssMb <= target.maxMb ? 'pass' : '**FAIL**' };
  }
  const label = `${workload.title}: backupd ≤ ${target.max} × ${target.peer}`;
  const peer = stats.get(target.peer);
  if (ours === undefined || peer === undefined) return { label, measured: 'n/a', result: 'not measured' };
  const value = ours.median / peer.median;
  const synced = `${(ours.medianSynced / peer.medianSynced).toFixed(2)} ×`;
  return { label, measured: `${value.toFixed(2)} ×`, result: value <= target.max ? 'pass' : '**FAIL**', synced };
}
