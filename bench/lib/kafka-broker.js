// Starts the test Kafka broker (bench/lib/kafka-broker-process.js) in a child
// process under tsx and reads back what it received.
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';

const ENTRY = fileURLToPath(new URL('./kafka-broker-process.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Resolves { port, address, stats(), stop() }. stats() resolves
 * { records, distinct_ids, missing_ce_id, duplicate_batches, by_key, by_topic, produce_requests }.
 */
export async function startKafkaBroker() {
  let onPorts;
  const announced = new Promise((resolve) => (onPorts = resolve));
  const server = spawnServer(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: REPO,
    onStdoutLine: (line) => {
      try {
        const msg = JSON.parse(line);
        if (typeof msg.port === 'number' && typeof msg.statsPort === 'number') onPorts(msg);
      } catch {
        // not our announcement
      }
    },
  });
  const { port, statsPort } = await untilReady(server, announced, 'test Kafka broker');
  return {
    port,
    address: `127.0.0.1:${port}`,
    pid: server.child.pid,
    stats: async () => {
      const res = await fetch(`http://127.0.0.1:${statsPort}/stats`, { signal: AbortSignal.timeout(5000) });
      return res.json();
    },
    stop: () => server.stop(),
  };
}
