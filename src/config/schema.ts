// The sidecar's configuration, validated with zod. Each section's shape lives
// here so that one error message can name the exact path that is wrong.
// Sections owned by later capabilities (rebac, policy, budget, audit) are
// validated by their own rooms; here they are only required to be objects.
import { controlsSchema } from '../decision/controls.js';
import { z } from 'zod';
import { DECISION_METADATA_FIELDS, DEFAULT_DECISION_METADATA } from '../decision/decision-metadata.js';

const port = z.number().int().min(0).max(65535);
/**
 * Every port listens on loopback unless told otherwise: as a sidecar, Envoy is
 * in the same pod, and a port other pods can reach is a port they can forge
 * requests on (docs/security.md). Standalone deployments set 0.0.0.0.
 */
const DEFAULT_HOST = '127.0.0.1';
const listener = (defaultPort: number) =>
  z
    .object({
      enabled: z.boolean().default(true),
      host: z.string().default(DEFAULT_HOST),
      port: port.default(defaultPort),
    })
    .strict()
    .prefault({});

/** The gRPC ext_authz port: a listener plus the bounds on what one caller can make it hold (docs/security.md). */
const grpcListener = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default(DEFAULT_HOST),
    port: port.default(9191),
    /** SETTINGS_MAX_CONCURRENT_STREAMS per connection (Envoy's edge recommendation: 100). */
    max_concurrent_streams: z.number().int().min(1).max(2 ** 31 - 1).default(100),
    /** Largest CheckRequest message; larger is denied message_too_large. */
    max_message_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(256 * 1024),
    /** A stream must deliver its whole message within this (denied message_timeout after 1–2× it). */
    message_timeout_ms: z.number().int().positive().max(600_000).default(5000),
    /** Request bytes buffered across all streams before Checks are denied overloaded. */
    max_buffered_bytes: z.number().int().min(1024 * 1024).default(64 * 1024 * 1024),
    /** Open connections at once. */
    max_connections: z.number().int().min(1).default(1024),
    /** mTLS on the gRPC port: our certificate and key, and the CA every client certificate must chain to. */
    tls: z
      .object({ cert_file: z.string().min(1), key_file: z.string().min(1), client_ca_file: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .prefault({});

export const enforcementMode = z.enum(['deny', 'dryrun', 'warn']);

/** `load_shedding:` — fast 503 `overloaded` past saturation (decision/load-shedder.ts). */
export const loadSheddingSchema = z
  .object({
    /** Off by default: turn on where the sidecar can be driven past saturation (the bench: bench/README.md). */
    enabled: z.boolean().default(false),
    /** Shed while the event loop runs this late (ms); keep it well below deadline_ms. */
    max_event_loop_lag_ms: z.number().positive().max(10_000).default(20),
    /** Shed while this many decisions wait on I/O. */
    max_in_flight: z.number().int().positive().default(1000),
    /** How often the lag is sampled (ms). */
    sample_interval_ms: z.number().int().positive().max(1000).default(5),
  })
  .strict()
  .prefault({});

export type LoadSheddingConfig = z.output<typeof loadSheddingSchema>;

/** `runtime:` — settings of the Node.js process itself; they apply at start (util/heap-growth.ts). */
export const runtimeSchema = z
  .object({
    /** V8 grows the old generation by at most this % of what the last full GC kept; null: V8's own factor. */
    heap_growing_percent: z.number().int().min(5).max(300).nullable().default(null),
  })
  .strict()
  .prefault({});

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** Claim names for subject, tenant and roles; a name may be a dotted path into nested claims. */
const claimNamesSchema = z
  .object({
    subject: z.string().min(1).default('sub'),
    tenant: z.string().min(1).default('tenant_id'),
    roles: z.string().min(1).default('roles'),
  })
  .strict();

export const jwtSchema = z
  .object({
    /** Local JWKS file (JSON Web Key Set). Reloaded when the file changes. */
    jwks_file: z.string().min(1).optional(),
    /** Remote JWKS endpoint; cached, and a token with an unknown `kid` triggers one refetch. */
    jwks_url: z.url().optional(),
    jwks_cache_s: z.number().positive().default(300),
    jwks_timeout_ms: z.number().int().positive().default(2000),
    /** A token with an unknown `kid` refetches the remote JWKS at most once per this many seconds (failed fetches count too). */
    jwks_cooldown_s: z.number().min(0).default(30),
    /** Follow a JWKS redirect to another origin (scheme, host or port). Off: such a redirect is a failed fetch. */
    jwks_cross_origin_redirects: z.boolean().default(false),
    /** RSA keys with a larger modulus are left out of the key set, with a warning (they make every check slow). */
    jwks_max_rsa_modulus_bits: z.number().int().min(2048).max(65536).default(8192),
    issuer: stringOrList.optional(),
    audience: stringOrList.optional(),
    /** Allowed signature algorithms. `none` and HMAC (algorithm confusion with public keys) are never accepted. */
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    claims: claimNamesSchema.prefault({}),
    clock_skew_s: z.number().min(0).max(600).default(30),
    /** Where the token is read from: `authorization` (Bearer) by default. */
    header: z.string().default('authorization'),
    /** Verified tokens are cached until expiry; bounded. */
    cache_size: z.number().int().min(0).default(10_000),
  })
  .strict()
  .refine((j) => j.jwks_file !== undefined || j.jwks_url !== undefined, {
    message: 'identity.jwt needs jwks_file or jwks_url',
  })
  .refine((j) => j.jwks_file === undefined || j.jwks_url === undefined, {
    message: 'identity.jwt takes jwks_file or jwks_url, not both',
  });

export const identitySchema = z
  .object({
    jwt: jwtSchema.optional(),
    /**
     * Trust the payload Envoy's jwt_authn filter put in metadata_context (Envoy
     * already verified it). Off unless `enabled: true`: anyone who can reach the
     * gRPC port can write that metadata, so it is safe only when nothing but
     * Envoy can (loopback, or server.grpc.tls) — see docs/security.md.
     */
    envoy_jwt_authn: z
      .object({
        enabled: z.boolean().default(false),
        namespace: z.string().default('envoy.filters.http.jwt_authn'),
        /**
         * The `payload_in_metadata` key. When unset, the one payload in the namespace is used
         * (a `header_in_metadata` object is skipped); two payloads are refused as ambiguous.
         */
        payload_key: z.string().optional(),
        /** Claim names in the payload; default: identity.jwt.claims, else sub / tenant_id / roles. */
        claims: claimNamesSchema.optional(),
      })
      .strict()
      .optional(),
    /** Workload identity from source.principal or x-forwarded-client-cert. */
    spiffe: z
      .object({
        enabled: z.boolean().default(true),
        trust_domains: z.array(z.string().min(1)).default([]),
        /** Read x-forwarded-client-cert (only when Envoy sanitizes it). */
        xfcc: z.boolean().default(false),
        /** Map a SPIFFE id to a tenant: `namespace` (…/ns/<ns>/…) or a fixed map. */
        tenant_from: z.enum(['namespace', 'none']).default('namespace'),
        roles: z.array(z.string()).default(['workload']),
      })
      .strict()
      .optional(),
    /** DEV ONLY: accept x-user-id / x-tenant-id / x-roles as identity. */
    trusted_headers: z.boolean().default(false),
  })
  .strict()
  .prefault({});

const stageEntry = z.union([
  z.string().min(1),
  z.record(z.string().min(1), z.unknown()).refine((o) => Object.keys(o).length === 1, {
    message: 'a stage entry with options is an object with exactly one key: { name: { ...options } }',
  }),
]);

export const routeSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: z
      .object({
        /** One method, a list, or '*' for any. */
        method: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('*'),
        /** Path pattern: literal segments, `:name` parameters, and a trailing `*` for the rest. */
        path: z.string().startsWith('/'),
        host: z.string().optional(),
      })
      .strict(),
    action: z.string().min(1),
    resource: z
      .object({
        type: z.string().min(1),
        /** A literal, or `:param`. Defaults to the whole path. */
        id: z.string().min(1).optional(),
        /**
         * Where the resource's tenant comes from: `:param`, `header:<name>`,
         * `host` (first DNS label), `principal` (the caller's own), or a literal.
         */
        tenant: z.string().min(1).default('principal'),
      })
      .strict(),
    anonymous: z.boolean().default(false),
    enforcement: enforcementMode.optional(),
    deadline_ms: z.number().int().positive().optional(),
    stages: z.array(stageEntry).default(['tenant', 'rbac']),
    /** Compliance controls this route's decisions enforce (audit events, `audit query --control`). */
    controls: controlsSchema,
  })
  .strict();

export const rbacSchema = z
  .object({
    /** role → resource type (or '*') → actions (or '*'). */
    roles: z.record(z.string().min(1), z.record(z.string().min(1), z.array(z.string().min(1)))).default({
      admin: { '*': ['*'] },
      editor: { '*': ['read', 'write', 'execute', 'approve', 'export'] },
      viewer: { '*': ['read'] },
    }),
  })
  .strict()
  .prefault({});

/** Inline proxy mode (docs/proxy.md): the sidecar is the service's front door. */
const proxySchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().default(DEFAULT_HOST),
    port: port.default(8080),
    upstream: z.url().optional(),
    /** Keep-alive connections to the upstream, at most this many at once. */
    connections: z.number().int().positive().max(10_000).default(128),
    /** Idle upstream connections close after this; keep it below the upstream's own keep-alive (Node: 5 s). */
    keepalive_timeout_ms: z.number().int().positive().default(4000),
    connect_timeout_ms: z.number().int().positive().default(2000),
    /** From the request sent to the upstream's response headers: 504 upstream_timeout past it. */
    response_timeout_ms: z.number().int().positive().default(30_000),
    /** Longest pause between two chunks of the upstream's response body. */
    body_timeout_ms: z.number().int().positive().default(30_000),
    /** Largest request body forwarded: 413 body_too_large past it (counted as it streams; never buffered). */
    max_body_bytes: z.number().int().nonnegative().default(64 * 1024 * 1024),
    /** Longest pause between two chunks of the client's request body: 408 upload_timeout past it. */
    upload_idle_timeout_ms: z.number().int().positive().default(30_000),
    /**
     * Addresses or CIDRs of proxies in front of the sidecar whose x-forwarded-for / forwarded
     * the sidecar appends to (and takes the client address from); from anyone else they are replaced.
     */
    trusted_proxies: z.array(z.string().min(1)).default([]),
    /** Adds `via: 1.1 <value>` to forwarded requests and responses; off when absent. */
    via: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'a token (RFC 9110 pseudonym)').optional(),
  })
  .strict()
  .prefault({});

export type ProxyConfig = z.infer<typeof proxySchema>;

export const sidecarConfigSchema = z
  .object({
    server: z
      .object({
        grpc: grpcListener,
        http: z
          .object({
            enabled: z.boolean().default(true),
            host: z.string().default(DEFAULT_HOST),
            port: port.default(9192),
            /** Envoy http_service path_prefix, stripped before routing. */
            path_prefix: z.string().startsWith('/').optional(),
          })
          .strict()
          .prefault({}),
        admin: listener(9090),
        proxy: proxySchema,
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
    enforcement: enforcementMode.default('deny'),
    deadline_ms: z.number().int().positive().max(60_000).default(50),
    load_shedding: loadSheddingSchema,
    runtime: runtimeSchema,
    identity: identitySchema,
    routes: z.array(routeSchema).default([]),
    rbac: rbacSchema,
    rebac: z.record(z.string(), z.unknown()).optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    budget: z.record(z.string(), z.unknown()).optional(),
    audit: z.record(z.string(), z.unknown()).optional(),
    tracing: z.record(z.string(), z.unknown()).optional(),
    /** What each answer tells Envoy for its access log (gRPC dynamic_metadata, HTTP response headers). */
    decision_metadata: z
      .object({ fields: z.array(z.enum(DECISION_METADATA_FIELDS)).default([...DEFAULT_DECISION_METADATA]) })
      .strict()
      .prefault({}),
  })
  .strict();

export type SidecarConfig = z.infer<typeof sidecarConfigSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type IdentityConfig = z.infer<typeof identitySchema>;
export type JwtConfig = z.infer<typeof jwtSchema>;
export type RbacConfig = z.infer<typeof rbacSchema>;
