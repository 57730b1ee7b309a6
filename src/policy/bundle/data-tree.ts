// The data document: bundle data files placed at their directory paths, as
// OPA does (a/b/data.json → data.a.b), and the sidecar's own data from config.
export type DataTree = Record<string, unknown>;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Inserts `value` at `path` in `tree`, merging objects recursively. Like OPA,
 * two files that set the same non-object path conflict: that is an error,
 * not a silent overwrite.
 */
export function insertData(tree: DataTree, path: readonly string[], value: unknown, where: string): void {
  if (path.length === 0) {
    if (!isObject(value)) throw new Error(`${where}: the root data document must be an object`);
    mergeInto(tree, value, where, false);
    return;
  }
  let node = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (!isObject(next)) throw new Error(`${where}: conflicts with data at ${path.slice(0, i + 1).join('/')}`);
    node = node[key] as DataTree;
  }
  const last = path[path.length - 1]!;
  const existing = node[last];
  if (existing === undefined) node[last] = value;
  else if (isObject(existing) && isObject(value)) mergeInto(existing, value, where, false);
  else throw new Error(`${where}: conflicts with data at ${path.join('/')}`);
}

/** Deep merge of objects; on a non-object conflict `override` decides (true: the new value wins) or it is an error. */
export function mergeInto(target: DataTree, source: Readonly<Record<string, unknown>>, where: string, override: boolean): void {
  for (const [k, v] of Object.entries(source)) {
    const existing = target[k];
    if (existing === undefined) target[k] = v;
    else if (isObject(existing) && isObject(v)) mergeInto(existing, v, where, override);
    else if (override) target[k] = v;
    else throw new Error(`${where}: conflicts with data at ${k}`);
  }
}

/**
 * The bundle's data with the sidecar's config data merged over it: objects
 * merge key by key, and where both set the same non-object value the config
 * wins (it is the operator's statement about this deployment). Neither input
 * is modified.
 */
export function withConfigData(bundleData: DataTree, configData: Readonly<Record<string, unknown>>): DataTree {
  const out = structuredClone(bundleData);
  mergeInto(out, structuredClone(configData) as Record<string, unknown>, 'policy.data', true);
  return out;
}

/** OPA's check that all data lies under the manifest's roots ("" = everything). */
export function checkDataWithinRoots(tree: DataTree, roots: readonly string[]): void {
  if (roots.some((r) => r === '')) return;
  const rootSegs = roots.map((r) => r.split('/'));
  const walk = (node: unknown, path: string[]): void => {
    if (path.length > 0 && rootSegs.some((r) => r.length <= path.length && r.every((s, i) => s === path[i]))) return;
    const onTheWay = rootSegs.some((r) => r.length > path.length && path.every((s, i) => s === r[i]));
    if (onTheWay && isObject(node)) {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
      return;
    }
    throw new Error(`manifest roots [${roots.join(', ')}] do not permit data at /${path.join('/')}`);
  };
  walk(tree, []);
}
