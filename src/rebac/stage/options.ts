// The rebac stage's route options:
//   { rebac: can_deploy }                                  one relation on the route's resource
//   { rebac: { relation: can_deploy } }                    the same
//   { rebac: { checks: [ { relation: can_read },
//                        { relation: member, object: "org::tenant" } ],
//              mode: all } }                               several checks, all (default) or any
// `object` is `type:id`, where the id may name route parameters as `:param`
// ("org::tenant" is type `org`, id = the route's :tenant). Without `object`
// a check is on the route's resource (`<resource.type>:<resource.id>`).
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

const routeOptionsSchema = z.union([
  name.transform((relation) => ({ checks: [{ relation }], mode: 'all' as const })),
  z.object({ relation: name }).strict().transform((o) => ({ checks: [{ relation: o.relation }], mode: 'all' as const })),
  z
    .object({
      checks: z.array(checkSchema).min(1, { error: 'needs at least one check' }).max(50, { error: 'at most 50 checks' }),
      mode: z.enum(['all', 'any']).default('all'),
    })
    .strict(),
], { error: "needs a relation: `rebac: <relation>`, `{ relation: <relation> }` or `{ checks: [{ relation, object? }], mode: all|any }`" });

export type RebacRouteOptions = z.output<typeof routeOptionsSchema>;

export function parseRouteOptions(options: unknown): RebacRouteOptions {
  if (options === undefined || options === null) {
    throw new Error('needs a relation, e.g. `{ rebac: { relation: can_read } }`');
  }
  return parseSection(routeOptionsSchema, options, 'options');
}
