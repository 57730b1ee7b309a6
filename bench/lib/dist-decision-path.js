// What the in-process benches load from a build (dist/, or another build's
// dist to compare two): the sidecar and the gRPC transport's decode/encode,
// so that a bench decides exactly as the transport does without HTTP/2.
import path from 'node:path';

/** The modules of the build at `distDir`, by the names the benches use. */
export async function loadDecisionPath(distDir) {
  const dist = (p) => import(path.join(path.resolve(distDir), p));
  const [{ loadConfigFile }, { Sidecar }, { createLogger }, { decodeCheckRequest }, { authzRequestFromCheck }, { encodeCheckResponseFrame }] =
    await Promise.all([
      dist('config/load.js'), dist('sidecar.js'), dist('observability/logger.js'),
      dist('transport/grpc/check-request-reader.js'), dist('request/from-check-request.js'),
      dist('transport/grpc/check-response-writer.js'),
    ]);
  return {
    dist,
    createLogger,
    decodeCheckRequest,
    authzRequestFromCheck,
    encodeCheckResponseFrame,
    /** The sidecar of `config`, deciding offline: no listener, no file watch, warnings only. */
    startOffline: (config, env) =>
      Sidecar.start({ loaded: loadConfigFile(config, env), log: createLogger('warn'), listen: false, watch: false }),
  };
}
