// The route table: config `routes:` compiled into matchers, resource resolvers
// and bound stages. The first route in config order that matches wins.
//
// With hundreds of routes sharing a prefix (`/api/v1/...`) a linear scan costs
// too much per request, so patterns are stored in a segment trie: one edge per
// literal segment, one shared edge for "any parameter", and at each node the
// routes that end there or take the rest with `*`. A request walks only the
// branches its segments can follow; among the routes found there, the lowest
// config index that also accepts the method and host wins, which is exactly
// "first match in config order".
import type { RouteConfig } from '../config/schema.js';
import type { CompiledRoute, RouteMatch, RouteMatcher } from '../decision/interfaces.js';
import type { StageRegistry } from '../decision/stage-registry.js';
import type { AuthzRequest, Stage } from '../decision/types.js';
import { compileHostPattern, hostWithoutPort } from './host.js';
import { compilePattern, matchPattern, pathSegments, type PathPattern } from './path-pattern.js';
import { compileResourceResolver } from './resource-resolver.js';

const ANY_METHOD = '*';
const METHOD = /^[A-Z][A-Z0-9_-]*$/;

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

/** One trie node: the routes reachable through the segments leading to it. */
class TrieNode {
  readonly literal = new Map<string, TrieNode>();
  param: TrieNode | undefined;
  /** Routes whose pattern ends at this node, ascending config index. */
  readonly terminal: number[] = [];
  /** Routes with a trailing `*` at this node (matching zero or more further segments), ascending. */
  readonly rest: number[] = [];
}

export class RouteTable implements RouteMatcher {
  readonly routes: readonly CompiledRoute[];
  private readonly root = new TrieNode();

  /** Use compileRoutes(); entries are in config order. */
  constructor(private readonly entries: readonly RouteEntry[]) {
    this.routes = entries.map((e) => e.route);
    entries.forEach((entry, index) => {
      let node = this.root;
      for (const literal of entry.pattern.literals) {
        if (literal === undefined) {
          node = node.param ??= new TrieNode();
        } else {
          let next = node.literal.get(literal);
          if (next === undefined) node.literal.set(literal, (next = new TrieNode()));
          node = next;
        }
      }
      (entry.pattern.rest ? node.rest : node.terminal).push(index);
    });
  }

  match(req: AuthzRequest): RouteMatch | undefined {
    const segments = pathSegments(req.path);
    const search: Search = { req, method: req.method.toUpperCase(), host: undefined, best: this.entries.length };
    this.walk(this.root, segments, 0, search);
    if (search.best === this.entries.length) return undefined;
    const entry = this.entries[search.best]!;
    if (entry.pattern.params.size === 0) return entry.staticMatch;
    const params = matchPattern(entry.pattern, segments);
    return params === undefined ? undefined : { route: entry.route, params };
  }

  private walk(node: TrieNode, segments: readonly string[], depth: number, search: Search): void {
    if (node.rest.length > 0) this.pick(node.rest, search);
    if (depth === segments.length) {
      this.pick(node.terminal, search);
      return;
    }
    const segment = segments[depth]!;
    const literal = node.literal.get(segment);
    if (literal !== undefined) this.walk(literal, segments, depth + 1, search);
    // A parameter matches exactly one non-empty segment.
    if (node.param !== undefined && segment !== '') this.walk(node.param, segments, depth + 1, search);
  }

  /** Lower `search.best` to the first route in `indexes` (ascending) that accepts method and host. */
  private pick(indexes: readonly number[], search: Search): void {
    for (let k = 0; k < indexes.length; k++) {
      const index = indexes[k]!;
      if (index >= search.best) return;
      const entry = this.entries[index]!;
      if (entry.methods !== undefined && !entry.methods.has(search.method)) continue;
      if (entry.host !== undefined && !entry.host((search.host ??= hostWithoutPort(search.req.host)))) continue;
      search.best = index;
      return;
    }
  }
}

interface Search {
  readonly req: AuthzRequest;
  readonly method: string;
  /** The request's host without port, computed when a route first asks. */
  host: string | undefined;
  /** Lowest matching route index so far; entries.length when none. */
  best: number;
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
    controls: Object.freeze([...config.controls]),
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
