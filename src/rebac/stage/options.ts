// The rebac stage's route options:
//   { rebac: can_deploy }                                  one relation on the route's resource
//   { rebac: { relation: can_deploy } }                    the same
//   { rebac: { checks: [ { relation: can_read },
//                        { relation: member, object: "org::tenant" } ],
//              mode: all } }                               several checks, all (default) or any
// `object` is `type:id`, where the id may name route parameters as `:param`
// ("org::tenant" is type `org`, id = the route's :tenant). Without `object`
// a check is on the route's resource (`<resource.type>:<resource.id>`).
// Both object forms also take, for all of the route's checks:
//   consistency: higher_consistency     OpenFGA's HIGHER_CONSISTENCY, bypassing
//                                       the decision cache (default minimize_latency: cached)
//   contextual_tuples: [ { claim: groups, relation: member, type: group, max: 20 } ]
//                                       tuples from token claims (claim-tuples.ts)
import { z } from 'zod';
import { parseSection } from '../../config/parse-section.js';

const name = z.string().regex(/^[^:#@\s]{1,254}$/, { error: 'must be an OpenFGA relation name (no :, #, @ or spaces)' });

const checkSchema = z
  .object({
    relation: name,
    object: z
      .string()
      .regex(/^[^:#@\s]{1,254}:[^#\s]+$/, { error: "must be 'type:id' (the id may use :param route parameters)" })
      .optional(),
  })
  .strict();

const claimTupleSchema = z
  .object({
    /** Claim name (a dotted name walks nested claims); its value must be a list of strings. */
    claim: z.string().min(1).max(256),
    relation: name,
    type: z.string().regex(/^[^:#@\s]{1,254}$/, { error: 'must be an OpenFGA type name' }),
    /** Most distinct values taken from the claim; more denies rebac_bad_request. */
    max: z.number().int().min(1).max(100).default(20),
  })
  .strict();

const shared = {
  consistency: z.enum(['minimize_latency', 'higher_consistency']).default('minimize_latency'),
  contextual_tuples: z.array(claimTupleSchema).max(10).default([]),
};

/** The object forms; one schema (not a union) so a mistake is reported at its own path. */
const routeOptionsSchema = z
  .object({
    relation: name.optional(),
    checks: z.array(checkSchema).min(1, { error: 'needs at least one check' }).max(50, { error: 'at most 50 checks' }).optional(),
    mode: z.enum(['all', 'any']).default('all'),
    ...shared,
  })
  .strict()
  .refine((o) => (o.relation === undefined) !== (o.checks === undefined), {
    error: 'needs a relation: `{ relation: <relation> }` or `{ checks: [{ relation, object? }], mode: all|any }` (one of them)',
  })
  .transform(({ relation, checks, mode, ...rest }) => ({
    checks: checks ?? [{ relation: relation! }],
    mode: checks === undefined ? ('all' as const) : mode,
    ...rest,
  }));

export type RebacRouteOptions = z.output<typeof routeOptionsSchema>;

export function parseRouteOptions(options: unknown): RebacRouteOptions {
  if (options === undefined || options === null) {
    throw new Error('needs a relation, e.g. `{ rebac: { relation: can_read } }`');
  }
  if (typeof options === 'string') return parseSection(routeOptionsSchema, { relation: options }, 'options');
  return parseSection(routeOptionsSchema, options, 'options');
}
