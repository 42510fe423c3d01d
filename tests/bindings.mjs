// What wrangler.toml declares, for the integration tests and the bench.
import { unstable_readConfig } from "wrangler";

/**
 * The bindings wrangler.toml declares, read by wrangler's own parser, so
 * the tests run the Worker exactly as `make dev` and `wrangler deploy` do:
 * its compatibility date, KV namespaces, Durable Objects (SQLite-backed
 * where a migration says so), queues and static assets.
 */
export const WRANGLER = (() => {
  const config = unstable_readConfig({ config: "wrangler.toml" });
  const sqlite = new Set(config.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    compatibilityDate: config.compatibility_date,
    kvNamespaces: config.kv_namespaces.map((kv) => kv.binding),
    durableObjects: Object.fromEntries(
      config.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]),
    ),
    queueProducers: Object.fromEntries(config.queues.producers.map((q) => [q.binding, { queueName: q.queue }])),
    // Batches go out at once in tests (wrangler.toml waits up to a second).
    queueConsumers: Object.fromEntries(
      config.queues.consumers.map((q) => [q.queue, { maxBatchSize: q.max_batch_size, maxBatchTimeout: 0, maxRetries: q.max_retries }]),
    ),
    crons: config.triggers.crons,
    assets: {
      directory: config.assets.directory,
      binding: config.assets.binding,
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: config.assets.run_worker_first === true },
    },
  };
})();

