import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { createKafkaEventLog } from '../adapters/kafka/kafka-event-log.js';
import { MemoryEventLog } from '../adapters/memory/memory-event-log.js';
import { MemoryOnlineStore } from '../adapters/memory/memory-online-store.js';
import { createRedisOnlineStore } from '../adapters/redis/redis-online-store.js';
import { createChdbOfflineStore } from '../adapters/chdb/chdb-offline-store.js';
import { createClickHouseServerOfflineStore } from '../adapters/clickhouse/clickhouse-server-offline-store.js';
import { createSchemaRegistry, type SchemaRegistry } from '../events/schema-registry.js';
import { createTopics, topicSpecs, type Topics } from '../events/topics.js';
import { createConsoleLogger } from '../observability/console-logger.js';
import { Metrics } from '../observability/metrics.js';
import type { EventLog } from '../ports/event-log.js';
import type { Logger } from '../ports/logger.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { OnlineStore } from '../ports/online-store.js';
import type { ModelStore } from '../ports/model-store.js';
import { createFsModelStore } from '../adapters/fs/fs-model-store.js';
import { UsageError } from '../errors.js';
import type { Project } from '../project/compile-project.js';
import type { TesseraConfig } from './config.js';
import type { CompiledGroup } from '../features/definitions.js';
import { groupsInNamespace, registeredProject, RegisteredProjects, servingGroups, servingVersion } from '../registry/registry.js';
import { readCatalog } from '../streaming/online-catalog.js';

/**
 * The composition root: the only place that picks adapters. Each port is opened lazily, so a
 * command opens only what it uses (chDB, in particular, locks its data directory to one process).
 * An unset service URL means the embedded default.
 */
export class Runtime {
  readonly logger: Logger;
  readonly metrics = new Metrics();
  topics: Topics;
  registry: SchemaRegistry;
  readonly clock: () => number = Date.now;
  /** The project as the folder holds it (what `plan` and `apply` compare with the registry). */
  readonly folderProject: Project;
  /**
   * The project the command runs on: the registry's head when something is registered (see
   * {@link useRegistry}), else the folder's.
   */
  project: Project;
  /** The registry's compiled versions, once {@link useRegistry} found a registry. */
  definitions: RegisteredProjects | null = null;
  /** The registry version the command runs on; null when nothing is registered. */
  registeredVersion: number | null = null;
  private eventLog?: EventLog;
  private offlineStore?: Promise<OfflineStore>;
  private onlineStore?: OnlineStore;
  private modelStore?: ModelStore;

  /**
   * @param project the feature project the command runs on: its event types name the topics and
   *   schemas, its groups the features.
   */
  constructor(
    readonly config: TesseraConfig,
    project: Project,
    private readonly options: { embeddedLogAllowed?: boolean; logger?: Logger } = {},
  ) {
    this.logger = options.logger ?? createConsoleLogger(config.logLevel);
    this.folderProject = project;
    this.project = project;
    this.topics = createTopics(project.catalog.types, config.topicPrefix);
    this.registry = createSchemaRegistry(project.catalog);
  }

  /**
   * Takes the definitions from the registry when the online store holds one (docs/architecture.md,
   * The registry): the head's project replaces the folder's, and {@link servingGroups} resolves
   * each group to the version that serves. Returns whether the folder differs from the head.
   */
  async useRegistry(): Promise<{ registered: number | null; folderDiffers: boolean }> {
    const projects = new RegisteredProjects(this.online(), this.config.topicPrefix);
    const { catalog, project } = await registeredProject(this.online(), this.config.topicPrefix, projects);
    if (project === null) return { registered: null, folderDiffers: false };
    this.definitions = projects;
    this.registeredVersion = catalog.registry?.version ?? null;
    this.project = project;
    this.topics = createTopics(project.catalog.types, this.config.topicPrefix);
    this.registry = createSchemaRegistry(project.catalog);
    return { registered: catalog.registry?.version ?? null, folderDiffers: project.hash !== this.folderProject.hash };
  }

  /** Every group's serving definition (the registry's serving versions; the project's groups when nothing is registered). */
  async servingGroups(): Promise<CompiledGroup[]> {
    if (this.definitions === null) return [...this.project.groups];
    return servingGroups(await readCatalog(this.online(), this.config.topicPrefix), this.definitions, this.project.groups);
  }

  /** Per registered group, the version that serves (empty when nothing is registered). */
  async servingVersions(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (this.definitions === null) return out;
    const catalog = await readCatalog(this.online(), this.config.topicPrefix);
    for (const name of Object.keys(catalog.registry?.groups ?? {})) {
      const v = servingVersion(catalog, name);
      if (v !== null) out.set(name, v.version);
    }
    return out;
  }

  /** The groups a stream deployment writing `namespace` keeps: per registered group, the version held there. */
  async groupsInNamespace(namespace: string): Promise<CompiledGroup[]> {
    if (this.definitions === null) return [...this.project.groups];
    return groupsInNamespace(await readCatalog(this.online(), this.config.topicPrefix), this.definitions, this.project.groups, namespace);
  }

  /** True when the event log is the in-process one (no TESSERA_KAFKA_BROKERS). */
  get embeddedLog(): boolean {
    return this.config.kafkaBrokers === null;
  }

  /**
   * The event log: Kafka when brokers are configured, else the in-process log, which lives only
   * as long as this process and so is allowed only where the whole chain runs in it (`demo`).
   */
  log(): EventLog {
    if (!this.eventLog) {
      if (this.config.kafkaBrokers) {
        this.eventLog = createKafkaEventLog({
          brokers: this.config.kafkaBrokers,
          clientId: this.config.clientId,
          logger: this.logger,
          sessionTimeoutMs: this.config.kafkaSessionTimeoutMs,
        });
      } else if (this.options.embeddedLogAllowed) {
        this.eventLog = new MemoryEventLog();
      } else {
        throw new UsageError(
          'this command needs Kafka: set TESSERA_KAFKA_BROKERS=host:port. The in-process log lives only inside one process, so it serves `tessera demo`, which runs the whole chain in one.',
        );
      }
    }
    return this.eventLog;
  }

  /** Creates Tessera's topics where missing. */
  async ensureTopics(): Promise<void> {
    await this.log().ensureTopics(topicSpecs(this.topics, this.config.partitions));
  }

  /** The offline store: a ClickHouse server when TESSERA_CLICKHOUSE_URL is set, else chDB at chdbPath. */
  offline(): Promise<OfflineStore> {
    if (!this.offlineStore) {
      if (this.config.clickhouseUrl) {
        this.offlineStore = createClickHouseServerOfflineStore({
          url: this.config.clickhouseUrl,
          username: this.config.clickhouseUser,
          password: this.config.clickhousePassword,
          database: this.config.clickhouseDatabase,
        });
      } else {
        const path = resolve(this.config.chdbPath);
        mkdirSync(path, { recursive: true });
        this.offlineStore = createChdbOfflineStore({ path });
      }
    }
    return this.offlineStore;
  }

  /** The online store: Redis when TESSERA_REDIS_URL is set, else in-process. */
  online(): OnlineStore {
    if (!this.onlineStore) {
      this.onlineStore = this.config.redisUrl ? createRedisOnlineStore({ url: this.config.redisUrl }) : new MemoryOnlineStore();
    }
    return this.onlineStore;
  }

  /** The model store: the directory `modelDir` (local, or a shared mount). */
  models(): ModelStore {
    this.modelStore ??= createFsModelStore(resolve(this.config.modelDir));
    return this.modelStore;
  }

  /** Closes whatever was opened. */
  async close(): Promise<void> {
    await this.eventLog?.close();
    // a store that failed to open has nothing to close; its error already reached the caller
    if (this.offlineStore) await (await this.offlineStore.catch(() => undefined))?.close();
    await this.onlineStore?.close();
  }
}
