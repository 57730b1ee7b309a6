// The environment for a child that runs the built CLI (bin/ → dist/): the
// test's own, without tap's hooks. tap puts its process-info loader into
// NODE_OPTIONS (and V8 coverage with it) for every descendant; dist/ is not
// counted in coverage (.taprc), and the hooks made each child start about a
// second slower on this machine — a suite that starts a hundred sidecars
// paid for it in minutes (bench/RESULTS.md, session 9).
export function distChildEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  return env;
}
