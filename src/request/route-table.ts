// The route table: config `routes:` compiled into matchers, resource resolvers
// and bound stages. The first route in config order that matches wins.
//
// With hundreds of routes a linear scan per request costs too much, so routes
// are indexed by method and by their first path segment. A request only tries
// the routes filed under its method and first segment plus those whose first
// segment is a parameter or `*`; both lists hold route indexes in ascending
// order and are walked as one merged list, which keeps config order exact.
import type { RouteConfig } from '../config/schema.js';
import type { CompiledRoute, RouteMatch, RouteMatcher } from '../decision/interfaces.js';
import type { StageRegistry } from '../decision/stage-registry.js';
import type { AuthzRequest, Stage } from '../decision/types.js';
import { compileHostPattern, hostWithoutPort } from './host.js';
import { compilePattern, matchPattern, pathSegments, type PathPattern } from './path-pattern.js';
import { compileResourceResolver } from './resource-resolver.js';

const ANY_METHOD = '*';
const METHOD = /^[A-Z][A-Z0-9_-]*$/;
const NONE: readonly number[] = Object.freeze([]);

/** One compiled route with its matchers; internal to the table, exported for its constructor type. */
export interface RouteEntry {
  readonly route: CompiledRoute;
  readonly pattern: PathPattern;
  /** undefined: any method. */
  readonly methods: ReadonlySet<string> | undefined;
  /** undefined: any host. Takes a lower-case host without port. */
  readonly host: ((host: string) => boolean) | undefined;
  /** Reused for patterns without parameters, so such a match allocates nothing. */
  readonly staticMatch: RouteMatch;
}

interface Bucket {
  /** First literal segment → route indexes, ascending. */
  readonly byFirst: ReadonlyMap<string, readonly number[]>;
  /** Routes whose first segment is a parameter or `*`, ascending. */
  readonly dynamic: readonly number[];
}

export class RouteTable implements RouteMatcher {
  readonly routes: readonly CompiledRoute[];
  private readonly byMethod: ReadonlyMap<string, Bucket>;
  private readonly anyMethod: Bucket;

  /** Use compileRoutes(); entries are in config order. */
  constructor(private readonly entries: readonly RouteEntry[]) {
    this.routes = entries.map((e) => e.route);
    const methods = new Set<string>();
    for (const e of entries) e.methods?.forEach((m) => methods.add(m));
    const byMethod = new Map<string, Bucket>();
    for (const m of methods) byMethod.set(m, bucket(entries, (e) => e.methods === undefined || e.methods.has(m)));
    this.byMethod = byMethod;
    this.anyMethod = bucket(entries, (e) => e.methods === undefined);
  }

  match(req: AuthzRequest): RouteMatch | undefined {
    const b = this.byMethod.get(req.method) ?? this.byMethod.get(req.method.toUpperCase()) ?? this.anyMethod;
    const segments = pathSegments(req.path);
    const literal = b.byFirst.get(segments[0] ?? '') ?? NONE;
    const dynamic = b.dynamic;
    let i = 0;
    let j = 0;
    let host: string | undefined;
    while (i < literal.length || j < dynamic.length) {
      const index = j >= dynamic.length || (i < literal.length && literal[i]! < dynamic[j]!) ? literal[i++]! : dynamic[j++]!;
      const entry = this.entries[index]!;
      if (entry.host !== undefined && !entry.host((host ??= hostWithoutPort(req.host)))) continue;
      const params = matchPattern(entry.pattern, segments);
      if (params === undefined) continue;
      return entry.pattern.params.size === 0 ? entry.staticMatch : { route: entry.route, params };
    }
    return undefined;
  }
}

function bucket(entries: readonly RouteEntry[], applies: (e: RouteEntry) => boolean): Bucket {
  const byFirst = new Map<string, number[]>();
  const dynamic: number[] = [];
  entries.forEach((e, index) => {
    if (!applies(e)) return;
    const first = e.pattern.firstLiteral;
    if (first === undefined) {
      dynamic.push(index);
    } else {
      let list = byFirst.get(first);
      if (list === undefined) byFirst.set(first, (list = []));
      list.push(index);
    }
  });
  return { byFirst, dynamic };
}

/**
 * Compile `routes:` against the registered stage factories. Throws an Error
 * naming the route (index and name) on anything that cannot work.
 */
export function compileRoutes(routes: RouteConfig[], stages: StageRegistry): RouteTable {
  const names = new Set<string>();
  const entries = routes.map((config, index) => {
    const label = `routes[${index}]${config.name === undefined ? '' : ` "${config.name}"`}`;
    try {
      const entry = compileRoute(config, stages);
      if (config.name !== undefined) {
        if (names.has(config.name)) throw new Error(`duplicate route name "${config.name}"`);
        names.add(config.name);
      }
      return entry;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${label}: ${message}`, { cause: err });
    }
  });
  return new RouteTable(entries);
}

function compileRoute(config: RouteConfig, registry: StageRegistry): RouteEntry {
  const pattern = compilePattern(config.match.path);
  const methods = compileMethods(config.match.method);
  const host = config.match.host === undefined ? undefined : compileHostPattern(config.match.host);
  const resolveResource = compileResourceResolver(config.resource, pattern.params);
  const name = config.name ?? `${methods === undefined ? ANY_METHOD : [...methods].join(',')} ${config.match.path}`;
  const stageCtx = { route: name, resourceType: config.resource.type, action: config.action };
  const stages: readonly Stage[] = Object.freeze(config.stages.map((entry) => registry.build(entry, stageCtx)));
  const route: CompiledRoute = Object.freeze({
    name,
    action: config.action,
    anonymous: config.anonymous,
    enforcement: config.enforcement,
    deadlineMs: config.deadline_ms,
    stages,
    explicitlyNoStages: config.stages.length === 0,
    resolveResource,
  });
  return { route, pattern, methods, host, staticMatch: Object.freeze({ route, params: Object.freeze({}) }) };
}

function compileMethods(spec: string | string[]): ReadonlySet<string> | undefined {
  const list = (Array.isArray(spec) ? spec : [spec]).map((m) => m.trim().toUpperCase());
  if (list.includes(ANY_METHOD)) return undefined;
  for (const m of list) if (!METHOD.test(m)) throw new Error(`method "${m}" is not an HTTP method token`);
  return new Set(list);
}
