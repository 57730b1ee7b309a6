// The `rebac:` config section. Every refusal names the path that is wrong
// (`rebac.remote.store_id: ...`). Secrets may come from the environment under
// the names OpenFGA's own CLI uses (FGA_API_TOKEN, FGA_CLIENT_SECRET, ...), so
// a config file checked into git never has to hold them.
import { z } from 'zod';
import { parseSection } from '../config/parse-section.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ulid = (what: string) => z.string().regex(ULID, { error: `must be an OpenFGA ${what} (a 26-character ULID)` });
const positiveMs = (max: number) => z.number().int().positive().max(max);
/** Type names as OpenFGA accepts them: no ':', '#', '@' or whitespace. */
const typeName = z.string().regex(/^[^:#@\s]{1,254}$/, { error: 'must be an OpenFGA type name' });

const embeddedSchema = z
  .object({
    /** Authorization model: OpenFGA DSL (.fga) or JSON (.json). Relative to the config file. */
    model: z.string().min(1).default('fga/model.fga'),
    /** Relationship tuples: YAML or JSON list of {user, relation, object[, condition]}. Optional. */
    tuples: z.string().min(1).optional(),
    /** How often the two files are polled for changes; 0 disables reloading. */
    watch_ms: z.number().int().min(0).max(3_600_000).default(1000),
  })
  .strict();

const clientCredentialsSchema = z
  .object({
    api_token_issuer: z.string().min(1),
    api_audience: z.string().min(1),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
  })
  .strict();

const remoteSchema = z
  .object({
    api_url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
    store_id: ulid('store id'),
    /** Pin the model; when absent the latest model at start is read and pinned. */
    authorization_model_id: ulid('authorization model id').optional(),
    /** OpenFGA preshared key. */
    api_token: z.string().min(1).optional(),
    client_credentials: clientCredentialsSchema.optional(),
    /** Deadline of one upstream Check/BatchCheck call (also bounded by the request's own deadline). */
    timeout_ms: positiveMs(60_000).default(25),
    /** Most sockets kept open to OpenFGA (keep-alive); further concurrent calls queue under their own deadline. */
    connections: z.number().int().positive().max(1024).default(32),
    /** Largest Check/BatchCheck answer read; a larger one is a fail-closed error (a 50-check batch answer is ~5 KB). */
    max_response_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(64 * 1024),
    /** How long start-up waits for the first successful contact (reading the model). */
    startup_timeout_ms: positiveMs(600_000).default(10_000),
    cache: z
      .object({
        /** Decisions kept; least recently used ones go first. */
        max: z.number().int().positive().max(10_000_000).default(100_000),
        allow_ttl_ms: z.number().int().min(0).max(86_400_000).default(10_000),
        deny_ttl_ms: z.number().int().min(0).max(86_400_000).default(2_000),
      })
      .strict()
      .prefault({}),
    changes: z
      .object({
        /** How often the ReadChanges feed is polled; revocations take effect within this. */
        poll_ms: positiveMs(3_600_000).default(1000),
        page_size: z.number().int().min(1).max(100).default(100),
        /** Deadline of one ReadChanges call. */
        timeout_ms: positiveMs(60_000).default(2000),
        /** Pages followed back to back in one poll (a burst of page_size × this changes is caught up at once). */
        max_pages_per_poll: z.number().int().positive().max(100_000).default(1000),
        /** Largest ReadChanges page read (a 100-change page is ~30 KB without conditions). */
        max_response_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    breaker: z
      .object({
        /** Consecutive failed upstream calls that open the breaker. */
        failure_threshold: z.number().int().positive().max(1_000_000).default(5),
        /** How long it stays open before one probe call is let through. */
        open_ms: positiveMs(3_600_000).default(1000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((r) => !(r.api_token !== undefined && r.client_credentials !== undefined), {
    error: 'set api_token or client_credentials, not both',
  });

const userSchema = z
  .object({
    /** OpenFGA type for people (principal kind `user`): `user:<sub>`. */
    user_type: typeName.default('user'),
    /** OpenFGA type for SPIFFE workloads. */
    workload_type: typeName.default('workload'),
    /**
     * Which part of the SPIFFE id becomes the object id: `path` (ns/acme/sa/api),
     * `trust_domain_path` (cluster.local/ns/acme/sa/api) or `spiffe_id` (the whole id).
     */
    workload_id: z.enum(['path', 'trust_domain_path', 'spiffe_id']).default('path'),
  })
  .strict()
  .prefault({});

export const rebacConfigSchema = z
  .object({
    mode: z.enum(['embedded', 'remote']).default('embedded'),
    embedded: embeddedSchema.prefault({}),
    remote: remoteSchema.optional(),
    user: userSchema,
  })
  .strict()
  .refine((c) => c.mode !== 'remote' || c.remote !== undefined, {
    error: 'mode remote needs a remote: section (api_url, store_id)',
    path: ['remote'],
  });

export type RebacConfig = z.output<typeof rebacConfigSchema>;
export type RemoteConfig = z.output<typeof remoteSchema>;
export type EmbeddedConfig = z.output<typeof embeddedSchema>;
export type SubjectConfig = z.output<typeof userSchema>;

/**
 * Environment variables (OpenFGA CLI names) that override the remote section:
 * FGA_API_URL, FGA_STORE_ID, FGA_MODEL_ID, FGA_API_TOKEN, and for client
 * credentials FGA_API_TOKEN_ISSUER, FGA_API_AUDIENCE, FGA_CLIENT_ID, FGA_CLIENT_SECRET.
 */
export function applyRebacEnv(section: unknown, env: NodeJS.ProcessEnv): unknown {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return section;
  const s = section as Record<string, unknown>;
  if (s.mode !== 'remote') return section;
  const remote = { ...((s.remote as Record<string, unknown> | undefined) ?? {}) };
  const set = (key: string, name: string): void => {
    const v = env[name];
    if (v !== undefined && v !== '') remote[key] = v;
  };
  set('api_url', 'FGA_API_URL');
  set('store_id', 'FGA_STORE_ID');
  set('authorization_model_id', 'FGA_MODEL_ID');
  set('api_token', 'FGA_API_TOKEN');
  const cc = { ...((remote.client_credentials as Record<string, unknown> | undefined) ?? {}) };
  const ccEnv: Array<[string, string]> = [
    ['api_token_issuer', 'FGA_API_TOKEN_ISSUER'],
    ['api_audience', 'FGA_API_AUDIENCE'],
    ['client_id', 'FGA_CLIENT_ID'],
    ['client_secret', 'FGA_CLIENT_SECRET'],
  ];
  let anyCc = remote.client_credentials !== undefined;
  for (const [key, name] of ccEnv) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      cc[key] = v;
      anyCc = true;
    }
  }
  if (anyCc) remote.client_credentials = cc;
  if (s.remote === undefined && Object.keys(remote).length === 0) return section;
  return { ...s, remote };
}

export function parseRebacConfig(section: unknown, env: NodeJS.ProcessEnv = {}): RebacConfig {
  return parseSection(rebacConfigSchema, applyRebacEnv(section, env), 'rebac');
}
