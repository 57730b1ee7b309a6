// The Kafka the audit scenario delivers to: the wire-protocol test broker
// from test/support/kafka-broker (no real Kafka can be installed here), in its
// own process so that its decoding does not share the sidecar's event loop.
//
// Run as a child — it is TypeScript underneath, hence tsx:
//   node --import tsx bench/lib/kafka-broker-process.js
// It prints {"port":N,"statsPort":M} on stdout once listening, answers
// GET /stats on statsPort with what it has received, and stops on SIGTERM.
//
// The broker keeps every record it receives; at several thousand events a
// second that is a lot of memory, so this process folds them into counts
// (records, distinct CloudEvents ids, records per key) and lets them go.
import http from 'node:http';
import { setInterval } from 'node:timers';
import { TestKafkaBroker } from '../../test/support/kafka-broker/index.js';

const FOLD_INTERVAL_MS = 250;

async function main() {
  const broker = await new TestKafkaBroker({ partitions: 3 }).start();
  const ids = new Set();
  const byKey = {};
  const byTopic = {};
  let records = 0;
  let missingId = 0;
  const fold = () => {
    for (const r of broker.records.splice(0)) {
      records++;
      const id = r.headers.ce_id;
      if (id) ids.add(id);
      else missingId++;
      const key = r.key ?? '(null)';
      byKey[key] = (byKey[key] ?? 0) + 1;
      byTopic[r.topic] = (byTopic[r.topic] ?? 0) + 1;
    }
  };
  setInterval(fold, FOLD_INTERVAL_MS).unref();

  const stats = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/stats') {
      res.writeHead(404).end();
      return;
    }
    fold();
    const body = {
      records, distinct_ids: ids.size, missing_ce_id: missingId,
      duplicate_batches: broker.duplicateBatches, by_key: byKey, by_topic: byTopic,
      produce_requests: broker.requestCounts.get(0) ?? 0,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise((resolve) => stats.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: broker.port, statsPort: stats.address().port })}\n`);

  const shutdown = async () => {
    stats.close();
    await broker.stop();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err) => {
  process.stderr.write(`kafka-broker-process: ${err.stack ?? err}\n`);
  process.exit(1);
});
