/**
 * Config: shipped defaults (config/default.json) overlaid with the user's file, validated and frozen.
 *
 * The user file is `--config <file>`, else $XDG_CONFIG_HOME/backupd/config.json, else
 * ~/.config/backupd/config.json; a missing default location is fine, a missing --config file is not.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import type { Config } from './schema.js';

const DEFAULTS_FILE = fileURLToPath(new URL('../../config/default.json', import.meta.url));

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'backupd', 'config.json');
}

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}

/**
 * Without a user file the shipped defaults are used as they are (a test validates them), so that most
 * runs never load the schema library: importing zod costs more start-up time than a whole no-op backup
 * of a small tree.
 */
export async function loadConfig(explicitFile?: string, env: NodeJS.ProcessEnv = process.env): Promise<Readonly<Config>> {
  const defaults = readJson(DEFAULTS_FILE) as Config;
  const userFile = explicitFile ?? defaultConfigPath(env);
  if (explicitFile === undefined && !fs.existsSync(userFile)) return freezeConfig(defaults);
  const user = readJson(userFile);
  if (typeof user !== 'object' || user === null || Array.isArray(user)) {
    throw new ConfigError(`config ${userFile}: must be a JSON object`);
  }
  return parseConfig({ ...defaults, ...user }, userFile);
}

/** Validates a merged config object; `origin` names the file in messages. */
export async function parseConfig(raw: unknown, origin: string): Promise<Readonly<Config>> {
  const { ConfigSchema } = await import('./schema.js');
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`config ${origin}: ${describeIssue(result.error.issues[0])}`);
  return freezeConfig(result.data);
}

function freezeConfig(config: Config): Readonly<Config> {
  const jobs = config.jobs.map((job) =>
    Object.freeze({
      ...job,
      source: expandHome(job.source),
      dest: job.dest === undefined ? undefined : expandHome(job.dest),
      exclude: Object.freeze([...job.exclude]),
    }),
  );
  return Object.freeze({ ...config, exclude: Object.freeze([...config.exclude]), jobs: Object.freeze(jobs) }) as Config;
}

function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'invalid';
  const field = issue.path.length === 0 ? '(top level)' : formatPath(issue.path);
  return `field ${field}: ${issue.message}`;
}

function formatPath(parts: readonly PropertyKey[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`config ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file}: not valid JSON (${(err as Error).message})`);
  }
}
