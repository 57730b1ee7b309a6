// The registry of remote sinks: one entry per `audit.sinks` kind that is
// shipped from the trail. The shipper thread builds its sinks from here, so
// a new sink (issue 18: PostgreSQL) is one entry plus its config schema.
import type { RemoteSinkConfigs } from '../config.js';
import type { RemoteSink, RemoteSinkContext } from './remote-sink.js';

type Factories = {
  readonly [K in keyof RemoteSinkConfigs]-?: (config: NonNullable<RemoteSinkConfigs[K]>, ctx: RemoteSinkContext) => Promise<RemoteSink>;
};

// Each sink's module (and its client library: kafkajs, pg) is imported only
// when the config has that sink, and only on the shipper thread: the
// decision thread needs the names alone (remoteSinkNames).
const FACTORIES: Factories = {
  kafka: async (config, ctx) => new (await import('../sinks/kafka-sink.js')).KafkaSink(config, ctx.log),
  postgres: async (config, ctx) => {
    const { PostgresSink, trailChainId } = await import('../sinks/postgres-sink.js');
    return new PostgresSink(config, ctx.log, trailChainId(ctx.dir, config.chain));
  },
};

export async function createRemoteSinks(configs: RemoteSinkConfigs, ctx: RemoteSinkContext): Promise<RemoteSink[]> {
  const sinks: RemoteSink[] = [];
  for (const kind of Object.keys(FACTORIES) as Array<keyof RemoteSinkConfigs>) {
    const config = configs[kind];
    // Each factory takes its own kind's config; the loop pairs them by key.
    const factory = FACTORIES[kind] as (c: NonNullable<typeof config>, ctx: RemoteSinkContext) => Promise<RemoteSink>;
    if (config !== undefined) sinks.push(await factory(config, ctx));
  }
  return sinks;
}

/** The names the shipper will use (metrics labels, checkpoints), known on the decision thread without building sinks. */
export function remoteSinkNames(configs: RemoteSinkConfigs): string[] {
  return (Object.keys(FACTORIES) as Array<keyof RemoteSinkConfigs>).filter((k) => configs[k] !== undefined);
}
