/**
 * What the bench's source data looks like, derived from a seed: the same names, sizes, modes, times and
 * bytes on every machine. The generator writes it; the runner uses it to check each tool's copy.
 */
import { createCipheriv, createHash } from 'node:crypto';

/** Bump when the layout or the content function changes: cached images are then regenerated. */
export const GENERATOR_VERSION = 1;
export const SEED = 'backupd-bench-v1';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const SPECS = {
  full: {
    small: { count: 20_000, min: KiB, max: 64 * KiB },
    large: { count: 4, size: 512 * MiB },
    mixed: { count: 200, min: MiB, max: 50 * MiB },
    mirror: { copies: 4, size: GiB },
  },
  // Same shapes, ~1/10 to 1/16 of the size: `--quick` is a smoke test of the whole bench in seconds.
  quick: {
    small: { count: 2_000, min: KiB, max: 64 * KiB },
    large: { count: 4, size: 32 * MiB },
    mixed: { count: 20, min: MiB, max: 8 * MiB },
    mirror: { copies: 4, size: 64 * MiB },
  },
  // The HTTP bench (bench/http.mjs): only the four copies of the big file, served by nginx and read as folders.
  http: {
    small: { count: 0, min: KiB, max: KiB },
    large: { count: 0, size: 0 },
    mixed: { count: 0, min: MiB, max: MiB },
    mirror: { copies: 4, size: GiB },
  },
  'http-quick': {
    small: { count: 0, min: KiB, max: KiB },
    large: { count: 0, size: 0 },
    mixed: { count: 0, min: MiB, max: MiB },
    mirror: { copies: 4, size: 64 * MiB },
  },
};

/** mulberry32: tiny, fast and the same everywhere (integer arithmetic only). */
function prng(seedText) {
  let a = createHash('sha256').update(seedText).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Log-uniform sizes: many small files and a long tail, like real trees. For 1-64 KiB the mean is about
 * 15 KiB, so 20,000 files make about 300 MB (the tree the issue measured cp -a on).
 */
function logUniform(random, min, max) {
  return Math.floor(min * (max / min) ** random());
}

const MODES = [0o644, 0o644, 0o644, 0o600, 0o755];
/** 2024-01-01T00:00:00Z; times spread over a year, with milliseconds. */
const EPOCH_MS = 1_704_067_200_000;

function meta(random) {
  return { mode: MODES[Math.floor(random() * MODES.length)], mtimeMs: EPOCH_MS + Math.floor(random() * 365 * 86_400_000) };
}

/** 16 folders, 8 subfolders each, 4 below each of those: 656 folders, ~30 files in each. */
function smallFolders() {
  const folders = [];
  for (let a = 0; a < 16; a++) {
    folders.push(`d${a}`);
    for (let b = 0; b < 8; b++) {
      folders.push(`d${a}/e${b}`);
      for (let c = 0; c < 4; c++) folders.push(`d${a}/e${b}/f${c}`);
    }
  }
  return folders;
}

/**
 * Every file of a spec: { workload, rel (relative to the image root), size, mode, mtimeMs, contentId }.
 * Files with the same contentId have the same bytes (the mirrors).
 */
export function layout(spec) {
  const random = prng(SEED);
  const files = [];
  const folders = smallFolders();
  for (let i = 0; i < spec.small.count; i++) {
    const folder = folders[Math.floor(random() * folders.length)];
    const rel = `small/${folder}/file-${String(i).padStart(5, '0')}.dat`;
    files.push({ workload: 'small', rel, size: logUniform(random, spec.small.min, spec.small.max), ...meta(random) });
  }
  for (let i = 0; i < spec.large.count; i++) {
    files.push({ workload: 'large', rel: `large/large-${i}.bin`, size: spec.large.size, ...meta(random) });
  }
  for (let i = 0; i < spec.mixed.count; i++) {
    const rel = `mixed/g${i % 4}/mixed-${String(i).padStart(3, '0')}.bin`;
    files.push({ workload: 'mixed', rel, size: logUniform(random, spec.mixed.min, spec.mixed.max), ...meta(random) });
  }
  const big = { size: spec.mirror.size, ...meta(random) };
  for (let m = 1; m <= spec.mirror.copies; m++) {
    files.push({ workload: 'mirrors', rel: `mirrors/m${m}/big.bin`, ...big, contentId: 'big.bin' });
  }
  return files.map((f) => ({ contentId: f.rel, ...f }));
}

/** Bytes of one file, as a stream of chunks: AES-256-CTR over zeros, keyed by the seed and contentId. */
export function* content(file, chunkSize = 4 * MiB) {
  const key = createHash('sha256').update(`${SEED}\0${file.contentId}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunkSize);
  for (let left = file.size; left > 0; left -= chunkSize) {
    yield cipher.update(left >= chunkSize ? zeros : zeros.subarray(0, left));
  }
}

/** Totals per workload folder: what a complete copy must hold. */
export function totals(files) {
  const byWorkload = {};
  for (const f of files) {
    const t = (byWorkload[f.workload] ??= { files: 0, bytes: 0 });
    t.files++;
    t.bytes += f.size;
  }
  return byWorkload;
}
