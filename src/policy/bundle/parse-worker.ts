// The parse worker's entry: prepares each bundle it is sent (prepare.ts) and
// answers with the result, or the error and the limit it hit.
import { parentPort } from 'node:worker_threads';
import { BundleLimitError } from './data-limits.js';
import { prepareBundle, type ParseJob } from './prepare.js';

parentPort!.on('message', ({ id, job }: { id: number; job: ParseJob }) => {
  prepareBundle(job).then(
    (prepared) => parentPort!.postMessage({ id, ok: prepared }, [prepared.dataJson]),
    (err: unknown) => parentPort!.postMessage({
      id,
      error: { message: err instanceof Error ? err.message : String(err), limit: err instanceof BundleLimitError ? err.limit : undefined },
    }),
  );
});
