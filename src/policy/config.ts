// The `policy:` config section and the policy stage's route options. Every
// refusal names the path that is wrong (`policy.bundle: ...`).
import { z } from 'zod';
import { parseSection } from '../config/parse-section.js';

const positiveMs = z.number().int().positive();

/** Where bundles come from: exactly one of file, dir or url. */
const bundleSchema = z
  .object({
    /** An OPA bundle (.tar.gz) or a plain policy.wasm. */
    file: z.string().min(1).optional(),
    /** An unpacked bundle directory: policy.wasm, data.json files at their paths, optional .manifest / .signatures.json. */
    dir: z.string().min(1).optional(),
    /** An HTTP(S) bundle server, polled like OPA's bundle service (ETag / If-None-Match, backoff on errors). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** file/dir: how often to look for changes; 0 turns watching off. */
    watch_interval_ms: z.number().int().min(0).default(2000),
    /** url: delay between successful polls, chosen at random in [min, max] like OPA. */
    polling: z
      .object({
        min_delay_s: z.number().positive().default(60),
        max_delay_s: z.number().positive().default(120),
      })
      .strict()
      .refine((p) => p.min_delay_s <= p.max_delay_s, { error: 'min_delay_s must not exceed max_delay_s' })
      .default({ min_delay_s: 60, max_delay_s: 120 }),
    /** url: deadline for one download, headers and body. */
    timeout_ms: positiveMs.default(10_000),
    /** url: extra request headers (e.g. a static API key header). */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
    /** url: name of an environment variable holding a bearer token for the bundle server. */
    bearer_token_env: z.string().min(1).optional(),
    /**
     * url: follow a redirect to another origin (scheme, host or port). Off by
     * default; even when on, `headers` and the bearer token are sent to the
     * configured origin only.
     */
    cross_origin_redirects: z.boolean().default(false),
    /** Largest bundle accepted, compressed download and unpacked contents alike. */
    max_bytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** Most entries (files, directories, links) a bundle directory or archive may hold. */
    max_files: z.number().int().positive().default(10_000),
    /** Most array elements + object members over all data files (checked before parsing: bytes can expand 1000-fold). */
    max_data_entries: z.number().int().positive().default(1_000_000),
    /** Deepest nesting of arrays and objects in a data file. */
    max_data_depth: z.number().int().positive().max(10_000).default(64),
    /** Heap cap of the worker thread that unpacks and parses a bundle; past it the bundle is refused. */
    parse_memory_mb: z.number().int().min(16).default(256),
    /** Longest a bundle may take to unpack, verify and parse on that worker. */
    parse_timeout_ms: positiveMs.default(30_000),
  })
  .strict()
  .refine((b) => [b.file, b.dir, b.url].filter((v) => v !== undefined).length === 1, {
    error: 'set exactly one of file, dir or url',
  });

/** The key that signed bundles must verify against (OPA's `keys` + `signing`). */
const signingSchema = z
  .object({
    /** PEM (SPKI public key or certificate) or a JWK JSON file. An HMAC secret is a JWK of kty "oct". */
    public_key_file: z.string().min(1),
    /** Expected key id. When set, a signature naming another kid is refused. */
    key_id: z.string().min(1).optional(),
    algorithm: z
      .enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'])
      .default('RS256'),
    /** Must equal the signature payload's `scope` (OPA's verification scope). */
    scope: z.string().optional(),
    /** Bundle files left out of verification (glob-free exact paths, e.g. "extra/readme.md"). */
    exclude_files: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const policyConfigSchema = z
  .object({
    bundle: bundleSchema,
    signing: signingSchema.optional(),
    /** Entrypoint for routes whose policy stage names none: "authz/allow" or "data.authz.allow". */
    entrypoint: z.string().min(1).optional(),
    /** WebAssembly memory of one policy instance, in 64 KiB pages. Growth past max_pages denies `policy_error`. */
    memory: z
      .object({
        initial_pages: z.number().int().min(2).max(65536).default(5),
        max_pages: z.number().int().min(2).max(65536).default(512),
      })
      .strict()
      .refine((m) => m.initial_pages <= m.max_pages, { error: 'initial_pages must not exceed max_pages' })
      .default({ initial_pages: 5, max_pages: 512 }),
    /** Data the sidecar adds to the bundle's data, merged at the root (objects merge; otherwise config wins). */
    data: z.record(z.string(), z.unknown()).default({}),
    /**
     * Longest a module may take to instantiate and load its data (on every
     * load, and when a fresh instance replaces one that failed); past it the
     * module is stopped and the bundle refused.
     */
    load_timeout_ms: positiveMs.default(5000),
    /** Evaluated against every new bundle before it replaces the old one. */
    smoke: z
      .object({
        /** Longest one smoke evaluation may run; past it the module is stopped and the bundle refused. */
        timeout_ms: positiveMs.default(1000),
        /** A policy input document; default: a minimal synthetic request. */
        input: z.unknown().optional(),
        /** Entrypoints to evaluate; default: the configured default entrypoint (or the bundle's first). */
        entrypoints: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .default({ timeout_ms: 1000 }),
    /** How long ready() waits for the first bundle from a url before it gives up. */
    ready_timeout_ms: positiveMs.default(30_000),
  })
  .strict();

export type PolicyConfig = z.output<typeof policyConfigSchema>;
export type BundleSourceConfig = PolicyConfig['bundle'];
export type SigningConfig = NonNullable<PolicyConfig['signing']>;

/**
 * What of the request a route's policy reads. Left out, the input carries
 * everything OPA-Envoy's does. `headers` lists the request headers the policy
 * looks at (case-insensitive); every other header is left out of
 * input.attributes.request.http.headers, so a request with a large header the
 * policy ignores (a bearer token, cookies) does not pay to serialize it.
 */
const policyInputOptionsSchema = z
  .object({
    headers: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z:-]+$/, { error: 'a header name' })).optional(),
  })
  .strict();

/** Options of the `policy` stage on a route: `{ policy: { entrypoint: authz/allow, input: { headers: [x-region] } } }`. */
export const policyStageOptionsSchema = z
  .object({ entrypoint: z.string().min(1).optional(), input: policyInputOptionsSchema.optional() })
  .strict();

export type PolicyStageOptions = z.output<typeof policyStageOptionsSchema>;

export function parsePolicyConfig(section: unknown): PolicyConfig {
  return parseSection(policyConfigSchema, section, 'policy');
}

/** "data.authz.allow", "authz.allow" and "/authz/allow" all name the entrypoint "authz/allow". */
export function normalizeEntrypoint(name: string): string {
  let n = name.trim();
  if (n.startsWith('data.')) n = n.slice(5).replaceAll('.', '/');
  else if (!n.includes('/') && n.includes('.')) n = n.replaceAll('.', '/');
  return n.replace(/^\/+/, '').replace(/\/+$/, '');
}
