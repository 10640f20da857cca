/**
 * Writes the bench's source data into its own ext4 image, once: bench/.data/<mode>-source.img, with a
 * manifest beside it. A later bench reuses the image when the manifest matches the generator version and
 * spec; otherwise (or after an interrupted generation, which leaves no manifest) it is written anew.
 *
 *   node bench/generate.mjs [--quick]     (root; the runner calls this itself)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATOR_VERSION, SPECS, content, layout } from './data-spec.mjs';
import { attach, createImage, detach, mkfs, mount, release, umount } from './loop-fs.mjs';

export const DATA_DIR = fileURLToPath(new URL('./.data/', import.meta.url));
const MiB = 2 ** 20;

export function sourcePaths(mode) {
  return {
    image: path.join(DATA_DIR, `${mode}-source.img`),
    manifest: path.join(DATA_DIR, `${mode}-source.json`),
    mountpoint: path.join(DATA_DIR, 'mnt', `${mode}-src`),
  };
}

function wantedManifest(mode) {
  return { generatorVersion: GENERATOR_VERSION, spec: SPECS[mode] };
}

function isCached(mode) {
  const { image, manifest } = sourcePaths(mode);
  if (!fs.existsSync(image) || !fs.existsSync(manifest)) return false;
  return JSON.stringify(JSON.parse(fs.readFileSync(manifest, 'utf8'))) === JSON.stringify(wantedManifest(mode));
}

/** Room for the data, ext4's metadata and a 4 KiB block per small file's tail. */
function imageBytes(files) {
  const data = files.reduce((sum, f) => sum + Math.ceil(f.size / 4096) * 4096, 0);
  return Math.ceil(data * 1.08) + 512 * MiB;
}

function writeFile(root, file) {
  const target = path.join(root, file.rel);
  const fd = fs.openSync(target, 'w', file.mode);
  try {
    for (const chunk of content(file)) fs.writeSync(fd, chunk);
    fs.fchmodSync(fd, file.mode);
    fs.futimesSync(fd, file.mtimeMs / 1000, file.mtimeMs / 1000);
  } finally {
    fs.closeSync(fd);
  }
}

/** Folders get a fixed time after their files are written, deepest first. */
function stampFolders(root, files) {
  const folders = new Set();
  for (const f of files) for (let dir = path.dirname(f.rel); dir !== '.'; dir = path.dirname(dir)) folders.add(dir);
  const stamp = new Date('2024-06-01T12:00:00Z');
  for (const dir of [...folders].sort((a, b) => b.length - a.length)) fs.utimesSync(path.join(root, dir), stamp, stamp);
}

function generate(mode, log) {
  const { image, manifest, mountpoint } = sourcePaths(mode);
  const files = layout(SPECS[mode]);
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  log(`generating ${mode} source data: ${files.length} files, ${(bytes / 2 ** 30).toFixed(2)} GiB into ${image}`);
  fs.rmSync(manifest, { force: true });
  release(mountpoint, image);
  fs.mkdirSync(DATA_DIR, { recursive: true });
  createImage(image, imageBytes(files));
  const device = attach(image, { directIo: true });
  try {
    mkfs(device);
    mount(device, mountpoint);
    const started = Date.now();
    let done = 0;
    for (const file of files) {
      fs.mkdirSync(path.join(mountpoint, path.dirname(file.rel)), { recursive: true });
      writeFile(mountpoint, file);
      done += file.size;
      if (file.size >= 256 * MiB) log(`  ${file.rel} (${((done / bytes) * 100).toFixed(0)}%)`);
    }
    stampFolders(mountpoint, files);
    umount(mountpoint);
    log(`  written in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    umount(mountpoint);
    detach(device);
  }
  fs.writeFileSync(manifest, `${JSON.stringify(wantedManifest(mode), null, 2)}\n`);
}

/** Makes sure the image for `mode` exists and is current; returns its paths. The image is left unmounted. */
export function ensureSourceImage(mode, log = (line) => process.stderr.write(`${line}\n`)) {
  if (!isCached(mode)) generate(mode, log);
  return sourcePaths(mode);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureSourceImage(process.argv.includes('--quick') ? 'quick' : 'full');
}
