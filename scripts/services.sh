#!/usr/bin/env bash
# Starts, stops and reports the services Tessera's integration tests and benchmarks use, on
# loopback only: Redis (Debian package), a single-node KRaft Apache Kafka broker (jars from Maven
# Central, run with the machine's JDK) and Debian's ClickHouse server (only for the server
# adapter's smoke test; chDB, the embedded engine, comes from npm and needs no service).
#
#   scripts/services.sh up [redis|kafka|clickhouse ...]   install what is missing, start, wait ready
#   scripts/services.sh down [...]                         stop
#   scripts/services.sh status                             one line per service
#   scripts/services.sh env                                the TESSERA_TEST_* variables the tests read
#
# Idempotent: a running, healthy service is left alone. State and logs live in
# $TESSERA_SERVICES_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/tessera/services): logs/<name>.log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/tessera
STATE=${TESSERA_SERVICES_DIR:-$CACHE/services}
LOGS=$STATE/logs
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs

REDIS_PORT=${TESSERA_TEST_REDIS_PORT:-16379}
KAFKA_PORT=${TESSERA_TEST_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
CH_HTTP_PORT=${TESSERA_TEST_CLICKHOUSE_HTTP_PORT:-18123}
CH_TCP_PORT=$((CH_HTTP_PORT + 1))

mkdir -p "$LOGS"
log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds, or fails with the log's tail.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name not ready after ${secs}s (log: $LOGS/$name.log)"
    fi
    sleep 0.5
  done
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

apt_updated=0
apt_install() {
  if ((apt_updated == 0)); then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update failed (see $LOGS/apt.log)"
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$LOGS/apt.log" 2>&1 || die "apt-get install $* failed (see $LOGS/apt.log)"
}

# ---------------------------------------------------------------- redis
redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }
redis_up() {
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  if redis_ready; then log "redis already up on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$STATE/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --daemonize yes \
    --dir "$STATE/redis" --pidfile "$STATE/redis/redis.pid" --logfile "$LOGS/redis.log" \
    --save '' --appendonly no --maxmemory 2gb
  wait_for redis 30 redis_ready
  log "redis up on 127.0.0.1:$REDIS_PORT"
}
redis_down() {
  if redis_ready; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  log "redis down"
}

# ---------------------------------------------------------------- kafka
kafka_fetch() {
  if [[ -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar && -f $KAFKA_LIBS/kafka-tools-$KAFKA_VERSION.jar ]]; then return; fi
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  local tmp=$KAFKA_LIBS.partial
  rm -rf "$tmp"
  (cd "$ROOT/scripts/kafka" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$tmp") \
    >"$LOGS/maven.log" 2>&1 || die "maven could not fetch the Kafka jars (see $LOGS/maven.log)"
  rm -rf "$KAFKA_LIBS" && mv "$tmp" "$KAFKA_LIBS"
}
kafka_java() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STATE/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*" "$@"
}
kafka_ready() { port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LOGS/kafka.log"; }
kafka_up() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  kafka_fetch
  if pid_alive "$STATE/kafka/kafka.pid" && kafka_ready; then log "kafka already up on 127.0.0.1:$KAFKA_PORT"; return; fi
  pid_alive "$STATE/kafka/kafka.pid" && kafka_down
  mkdir -p "$STATE/kafka/data"
  cat >"$STATE/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/kafka/data
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.check.interval.ms=60000
EOF
  cat >"$STATE/kafka/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
  if [[ ! -f $STATE/kafka/data/meta.properties ]]; then
    log "formatting KRaft storage"
    local id
    id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka.log")
    kafka_java kafka.tools.StorageTool format --standalone -t "$id" -c "$STATE/kafka/server.properties" \
      >>"$LOGS/kafka.log" 2>&1 || die "kafka storage format failed (see $LOGS/kafka.log)"
  fi
  : >"$LOGS/kafka.log"
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STATE/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*" \
    kafka.Kafka "$STATE/kafka/server.properties" >>"$LOGS/kafka.log" 2>&1 &
  echo $! >"$STATE/kafka/kafka.pid"
  wait_for kafka 120 kafka_ready
  log "kafka $KAFKA_VERSION up on 127.0.0.1:$KAFKA_PORT (KRaft, single node)"
}
kafka_down() {
  local pidf=$STATE/kafka/kafka.pid
  if pid_alive "$pidf"; then
    local pid; pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  log "kafka down"
}

# ---------------------------------------------------------------- clickhouse server (smoke test only)
ch_ready() { [[ "$(curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null)" == Ok.* ]]; }
clickhouse_up() {
  command -v clickhouse-server >/dev/null || apt_install clickhouse-server clickhouse-client
  if ch_ready; then log "clickhouse-server already up on 127.0.0.1:$CH_HTTP_PORT"; return; fi
  local d=$STATE/clickhouse
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas"
  cat >"$d/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$LOGS/clickhouse.log</log><errorlog>$LOGS/clickhouse.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP_PORT</http_port>
  <tcp_port>$CH_TCP_PORT</tcp_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
EOF
  cat >"$d/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
  nohup clickhouse-server --config-file="$d/config.xml" >>"$LOGS/clickhouse.log" 2>&1 &
  echo $! >"$d/clickhouse.pid"
  wait_for clickhouse 60 ch_ready
  log "clickhouse-server $(curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/?query=SELECT%20version()") up on 127.0.0.1:$CH_HTTP_PORT (smoke test only)"
}
clickhouse_down() {
  local pidf=$STATE/clickhouse/clickhouse.pid
  if pid_alive "$pidf"; then
    local pid; pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  log "clickhouse-server down"
}

status_line() {
  local name=$1 ok=$2 where=$3
  if $ok; then printf '%-11s up    %s\n' "$name" "$where"; else printf '%-11s down  %s\n' "$name" "$where"; fi
}

cmd=${1:-status}; shift || true
services=("$@"); ((${#services[@]})) || services=(redis kafka clickhouse)
case $cmd in
  up)   for s in "${services[@]}"; do "${s}_up"; done ;;
  down) for s in "${services[@]}"; do "${s}_down"; done ;;
  status)
    status_line redis "$(redis_ready && echo true || echo false)" "127.0.0.1:$REDIS_PORT"
    status_line kafka "$(kafka_ready 2>/dev/null && echo true || echo false)" "127.0.0.1:$KAFKA_PORT"
    status_line clickhouse "$(ch_ready && echo true || echo false)" "127.0.0.1:$CH_HTTP_PORT"
    echo "logs: $LOGS" ;;
  env)
    echo "export TESSERA_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    echo "export TESSERA_TEST_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    echo "export TESSERA_TEST_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT"
    echo "export TESSERA_TEST_KAFKA_LIBS=$KAFKA_LIBS" ;;
  *) die "usage: scripts/services.sh up|down|status|env [redis|kafka|clickhouse ...]" ;;
esac
