// Reads the YAML config, applies environment overrides, validates it, and
// returns either the config or one clear message naming every bad path.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { sidecarConfigSchema, type SidecarConfig } from './schema.js';
import { applyEnvOverrides } from './env-overrides.js';
import { describeIssues } from './parse-section.js';

export interface LoadedConfig {
  readonly config: SidecarConfig;
  /** Absolute path of the file, or undefined for an in-memory config. */
  readonly file: string | undefined;
  /** Relative paths inside the config resolve against this directory. */
  readonly baseDir: string;
  /** The validated raw document, for capabilities that validate their own section. */
  readonly raw: Record<string, unknown>;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config ${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(`config ${path}: invalid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(doc, { file: path, baseDir: dirname(path), env });
}

export function parseConfig(
  doc: unknown,
  opts: { file?: string; baseDir?: string; env?: NodeJS.ProcessEnv } = {},
): LoadedConfig {
  const where = opts.file ?? '<inline>';
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config ${where}: the document must be a mapping`);
  }
  const raw = applyEnvOverrides(doc as Record<string, unknown>, opts.env ?? {});
  const parsed = sidecarConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`config ${where}: ${describeIssues(parsed.error.issues)}`);
  }
  return { config: parsed.data, file: opts.file, baseDir: opts.baseDir ?? process.cwd(), raw };
}
