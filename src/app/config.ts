import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Tessera's one typed configuration. Every field documents its default and unit; defaults live
 * in `DEFAULT_CONFIG`; the environment is read only in `loadConfig`. An unset service URL means
 * the embedded default (in-process log, in-process store, chDB).
 */
export interface TesseraConfig {
  /** Kafka bootstrap servers (`TESSERA_KAFKA_BROKERS`, comma separated host:port). null: in-process log. */
  kafkaBrokers: string[] | null;
  /** Redis URL (`TESSERA_REDIS_URL`, e.g. `redis://127.0.0.1:6379/0`). null: in-process store. */
  redisUrl: string | null;
  /** ClickHouse server HTTP URL (`TESSERA_CLICKHOUSE_URL`). null: chDB in-process. */
  clickhouseUrl: string | null;
  /** ClickHouse user (`TESSERA_CLICKHOUSE_USER`). Default `default`. */
  clickhouseUser: string;
  /** ClickHouse password (`TESSERA_CLICKHOUSE_PASSWORD`). Default empty. */
  clickhousePassword: string;
  /** ClickHouse database (`TESSERA_CLICKHOUSE_DATABASE`). Default `default`. */
  clickhouseDatabase: string;
  /** chDB data directory (`TESSERA_CHDB_PATH`). Default `.tessera/chdb` under the working directory. */
  chdbPath: string;
  /** Shared model storage (`TESSERA_MODEL_DIR`). Default `.tessera/models`. */
  modelDir: string;
  /** Prefix of every topic name (`TESSERA_TOPIC_PREFIX`). Default `tessera`. */
  topicPrefix: string;
  /** Partitions of topics Tessera creates (`TESSERA_PARTITIONS`). Default 4. */
  partitions: number;
  /** Kafka client id (`TESSERA_CLIENT_ID`). Default `tessera`. */
  clientId: string;
  /**
   * Consumer-group session timeout, ms (`TESSERA_KAFKA_SESSION_TIMEOUT_MS`): how long a member that
   * died without leaving keeps its partitions. Default 30000; the broker allows 6000 and up.
   */
  kafkaSessionTimeoutMs: number;
  /** How far ahead of now an eventTime may be before it is rejected, ms (`TESSERA_MAX_FUTURE_MS`). Default 1 day. */
  maxFutureMs: number;
  /** Log level (`TESSERA_LOG_LEVEL`: debug, info, warn, error). Default info. */
  logLevel: LogLevel;
  /** Directory of batch job definitions (`TESSERA_JOBS_DIR`). null: the shipped `jobs/` of the package. */
  jobsDir: string | null;
  /**
   * The feature project folder (`TESSERA_PROJECT`, or `--project` on any command): the team's
   * events, entities, feature groups, label roles and model inputs. null: none (every command but
   * `demo`, which runs the bundled `examples/reference`, then asks for one).
   */
  project: string | null;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const DEFAULT_CONFIG: Readonly<TesseraConfig> = Object.freeze({
  kafkaBrokers: null,
  redisUrl: null,
  clickhouseUrl: null,
  clickhouseUser: 'default',
  clickhousePassword: '',
  clickhouseDatabase: 'default',
  chdbPath: '.tessera/chdb',
  modelDir: '.tessera/models',
  topicPrefix: 'tessera',
  partitions: 4,
  clientId: 'tessera',
  kafkaSessionTimeoutMs: 30_000,
  maxFutureMs: 86_400_000,
  logLevel: 'info' as LogLevel,
  jobsDir: null,
  project: null,
});

/** Environment variable of each field; the config file uses the field names themselves. */
export const ENV_NAMES: Record<keyof TesseraConfig, string> = {
  kafkaBrokers: 'TESSERA_KAFKA_BROKERS',
  redisUrl: 'TESSERA_REDIS_URL',
  clickhouseUrl: 'TESSERA_CLICKHOUSE_URL',
  clickhouseUser: 'TESSERA_CLICKHOUSE_USER',
  clickhousePassword: 'TESSERA_CLICKHOUSE_PASSWORD',
  clickhouseDatabase: 'TESSERA_CLICKHOUSE_DATABASE',
  chdbPath: 'TESSERA_CHDB_PATH',
  modelDir: 'TESSERA_MODEL_DIR',
  topicPrefix: 'TESSERA_TOPIC_PREFIX',
  partitions: 'TESSERA_PARTITIONS',
  clientId: 'TESSERA_CLIENT_ID',
  kafkaSessionTimeoutMs: 'TESSERA_KAFKA_SESSION_TIMEOUT_MS',
  maxFutureMs: 'TESSERA_MAX_FUTURE_MS',
  logLevel: 'TESSERA_LOG_LEVEL',
  jobsDir: 'TESSERA_JOBS_DIR',
  project: 'TESSERA_PROJECT',
};

type Raw = Partial<Record<keyof TesseraConfig, unknown>>;

/**
 * Builds the config from defaults, then an optional JSON config file (`TESSERA_CONFIG` or the
 * `configFile` argument), then the environment, then explicit overrides; validates the result.
 *
 * @example loadConfig(process.env) // embedded defaults when nothing is set
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: { configFile?: string; overrides?: Raw } = {}): TesseraConfig {
  const raw: Raw = {};
  const file = options.configFile ?? env.TESSERA_CONFIG;
  if (file) Object.assign(raw, readConfigFile(file));
  for (const [field, name] of Object.entries(ENV_NAMES) as [keyof TesseraConfig, string][]) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[field] = value;
  }
  Object.assign(raw, options.overrides ?? {});
  return validate(raw);
}

function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}. Set TESSERA_CONFIG to an existing JSON file or unset it.`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`, err);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object with fields such as "kafkaBrokers"`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in ENV_NAMES)) {
      throw new ConfigError(`config file ${path}: unknown field "${key}". Known fields: ${Object.keys(ENV_NAMES).join(', ')}`);
    }
  }
  return parsed as Raw;
}

function validate(raw: Raw): TesseraConfig {
  const c: TesseraConfig = { ...DEFAULT_CONFIG };
  if (raw.kafkaBrokers !== undefined && raw.kafkaBrokers !== null) c.kafkaBrokers = brokers(raw.kafkaBrokers);
  if (raw.redisUrl !== undefined && raw.redisUrl !== null) c.redisUrl = url(raw.redisUrl, 'redisUrl', ['redis:', 'rediss:']);
  if (raw.clickhouseUrl !== undefined && raw.clickhouseUrl !== null) c.clickhouseUrl = url(raw.clickhouseUrl, 'clickhouseUrl', ['http:', 'https:']);
  if (raw.jobsDir !== undefined && raw.jobsDir !== null) c.jobsDir = str(raw.jobsDir, 'jobsDir');
  if (raw.project !== undefined && raw.project !== null) c.project = str(raw.project, 'project');
  for (const field of ['clickhouseUser', 'clickhousePassword', 'clickhouseDatabase', 'chdbPath', 'modelDir', 'topicPrefix', 'clientId'] as const) {
    if (raw[field] !== undefined) c[field] = str(raw[field], field);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(c.topicPrefix)) {
    throw new ConfigError(`${ENV_NAMES.topicPrefix}="${c.topicPrefix}" may hold only letters, digits, '.', '_' and '-' (it becomes part of Kafka topic names)`);
  }
  if (raw.partitions !== undefined) c.partitions = int(raw.partitions, 'partitions', 1, 10_000);
  if (raw.kafkaSessionTimeoutMs !== undefined) c.kafkaSessionTimeoutMs = int(raw.kafkaSessionTimeoutMs, 'kafkaSessionTimeoutMs', 1000, 3_600_000);
  if (raw.maxFutureMs !== undefined) c.maxFutureMs = int(raw.maxFutureMs, 'maxFutureMs', 0, 365 * 86_400_000);
  if (raw.logLevel !== undefined) {
    const level = str(raw.logLevel, 'logLevel');
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new ConfigError(`${ENV_NAMES.logLevel}="${level}" is not a log level; use debug, info, warn or error`);
    }
    c.logLevel = level as LogLevel;
  }
  return c;
}

function str(value: unknown, field: keyof TesseraConfig): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${ENV_NAMES[field]} must be a non-empty string`);
  return value;
}

function int(value: unknown, field: keyof TesseraConfig, min: number, max: number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${ENV_NAMES[field]}=${String(value)} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function brokers(value: unknown): string[] {
  const list = Array.isArray(value) ? value.map(String) : String(value).split(',');
  const out = list.map((b) => b.trim()).filter((b) => b !== '');
  if (out.length === 0) throw new ConfigError(`${ENV_NAMES.kafkaBrokers} is empty; give host:port[,host:port...] or unset it for the in-process log`);
  for (const b of out) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) {
      throw new ConfigError(`${ENV_NAMES.kafkaBrokers}: "${b}" is not host:port (example: 127.0.0.1:9092)`);
    }
  }
  return out;
}

function url(value: unknown, field: keyof TesseraConfig, protocols: string[]): string {
  const s = str(value, field);
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    throw new ConfigError(`${ENV_NAMES[field]}="${s}" is not a URL (example: ${protocols[0]}//127.0.0.1:${field === 'redisUrl' ? 6379 : 8123})`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${ENV_NAMES[field]}="${s}" must start with ${protocols.map((p) => p + '//').join(' or ')}`);
  }
  return s;
}
