// The one way a config section (or a route's stage options, or an admin API
// body) is validated: zod, with every problem named by its full path.
import type { z } from 'zod';

/** `where.path.to.key: message; …` for every issue. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], where?: string): string {
  return issues
    .map((i) => {
      const path = [...(where === undefined ? [] : [where]), ...i.path.map(String)].join('.');
      return `${path || '(root)'}: ${i.message}`;
    })
    .join('; ');
}

/** Validates `value` (an absent one as `{}`), throwing one Error that names every bad path under `where`. */
export function parseSection<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  throw new Error(describeIssues(parsed.error.issues, where));
}
