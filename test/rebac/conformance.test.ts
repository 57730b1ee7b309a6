// OpenFGA's own conformance cases (../shared/conformance/openfga/*.yaml), run
// end to end: @openfga/sdk over real HTTP against `fga serve`'s API on an
// ephemeral port. Every check assertion (expectation or errorCode) must hold;
// list assertions are out of scope.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { OpenFgaClient, FgaApiError } from '@openfga/sdk';
import { transformer } from '@openfga/syntax-transformer';
import { createLogger } from '../../src/observability/logger.js';
import { startFgaApiServer } from '../../src/rebac/fga-api/server.js';
import { numericErrorCode } from '../../src/rebac/model/errors.js';

interface Tuple {
  user: string;
  relation: string;
  object: string;
  condition?: { name: string; context?: Record<string, unknown> };
}
interface CheckAssertion {
  tuple: { user: string; relation: string; object: string };
  contextualTuples?: Tuple[];
  context?: Record<string, unknown>;
  expectation?: boolean;
  errorCode?: number;
}
interface Stage {
  model: string;
  tuples?: Tuple[];
  checkAssertions?: CheckAssertion[];
}
interface Suite {
  tests: { name: string; stages: Stage[] }[];
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = resolve(repoRoot, '../shared/conformance/openfga');

const skip = existsSync(dir) ? false : `conformance cases not found at ${dir}; nothing to run`;
if (skip) console.log(`conformance: skipped: ${skip}`);
{
  t.test('OpenFGA conformance: check assertions through @openfga/sdk over HTTP', { skip }, async (t) => {
    const server = await startFgaApiServer({ host: '127.0.0.1', port: 0, log: createLogger('silent') });
    t.teardown(() => server.close());
    const apiUrl = `http://127.0.0.1:${server.port}`;
    const admin = new OpenFgaClient({ apiUrl });
    let total = 0;
    let passed = 0;
    const failures: string[] = [];

    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
    t.ok(files.length > 0, 'conformance files present');
    for (const file of files) {
      const suite = parse(readFileSync(join(dir, file), 'utf8')) as Suite;
      for (const [ti, test] of suite.tests.entries()) {
        const { id: storeId } = await admin.createStore({ name: `conformance-${ti}` });
        const client = new OpenFgaClient({ apiUrl, storeId });
        for (const [si, stage] of test.stages.entries()) {
          const model = transformer.transformDSLToJSONObject(stage.model);
          const { authorization_model_id: modelId } = await client.writeAuthorizationModel(model);
          if (stage.tuples?.length) await client.write({ writes: stage.tuples }, { authorizationModelId: modelId });
          for (const [ai, a] of (stage.checkAssertions ?? []).entries()) {
            total++;
            const where = `${file} ${test.name} stage ${si} assertion ${ai}`;
            let got: string;
            try {
              const res = await client.check(
                { ...a.tuple, ...(a.contextualTuples ? { contextualTuples: a.contextualTuples } : {}), ...(a.context ? { context: a.context } : {}) },
                { authorizationModelId: modelId },
              );
              got = `allowed=${res.allowed}`;
            } catch (err) {
              if (!(err instanceof FgaApiError)) throw err;
              const code = (err as FgaApiError & { apiErrorCode?: string }).apiErrorCode ?? 'unknown';
              got = `error ${numericErrorCode(code) ?? code}`;
            }
            const want = a.errorCode !== undefined ? `error ${a.errorCode}` : `allowed=${a.expectation === true}`;
            if (got === want) passed++;
            else failures.push(`${where}: want ${want}, got ${got}`);
          }
        }
      }
    }
    console.log(`conformance: ${passed}/${total} check assertions passed`);
    t.same(failures, [], 'no failing assertions');
    t.ok(total > 0, 'ran some assertions');
    t.equal(passed, total);
  });
}
