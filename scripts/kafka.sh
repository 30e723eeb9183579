#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, single node, 127.0.0.1) for development,
# tests and CI, run from the official jars on Maven Central.
#
#   scripts/kafka.sh up       fetch the jars (cached under $HOME), format, start, wait until it answers
#   scripts/kafka.sh down     stop it cleanly (SIGTERM, then SIGKILL after 60 s)
#   scripts/kafka.sh status   say whether it runs and answers
#   scripts/kafka.sh topics ARGS...   run kafka-topics against it (e.g. --list)
#   scripts/kafka.sh read TOPIC       print a topic's committed records (read_committed) and exit
#
# Settings (environment): PAYMATCH_KAFKA_PORT (9092; the controller listens on
# the next port), PAYMATCH_KAFKA_HOME (where jars and data live,
# $HOME/.cache/paymatch-kafka), PAYMATCH_KAFKA_DATA (log dirs,
# $PAYMATCH_KAFKA_HOME/data-$PORT; removed by `down` when PAYMATCH_KAFKA_KEEP
# is unset, so every `up` starts empty), PAYMATCH_KAFKA_OWNER_PID (the test
# harness's pid: a watchdog stops the broker and removes its data when that
# process is gone, however it ended), PAYMATCH_KAFKA_JAVA_OPTS (the JVM's
# options), PAYMATCH_KAFKA_PROPERTIES (extra server.properties lines,
# space-separated key=value pairs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pom="$root/scripts/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
port="${PAYMATCH_KAFKA_PORT:-9092}"
controller_port=$((port + 1))
home="${PAYMATCH_KAFKA_HOME:-$HOME/.cache/paymatch-kafka}"
libs="$home/libs-$version"
data="${PAYMATCH_KAFKA_DATA:-$home/data-$port}"
pidfile="$home/broker-$port.pid"
# ZGC: its pauses stay under a millisecond, where G1's young pauses took
# 8-40 ms every two seconds under load; on this project's latency benchmark
# the ledger's p99 was lower in five alternating runs out of five
# (docs/BENCHMARKS.md, "Session 19").
# C1 only (TieredStopAtLevel=1): on a machine whose cores the broker shares
# with paymatch, the C2 compiler never settled; it took a third of the
# broker's CPU through every measured round, while C1's code handled the
# same requests at the same CPU (docs/BENCHMARKS.md, Kafka "Session 28").
# A broker with cores of its own may prefer the JVM's default.
java_opts="${PAYMATCH_KAFKA_JAVA_OPTS:--Xms1g -Xmx1g -XX:+UseZGC -XX:TieredStopAtLevel=1}"

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return; fi
  command -v java >/dev/null || { log "java not found (Java 17 is needed)"; exit 1; }
  command -v mvn >/dev/null || { log "mvn not found (Maven fetches the broker's jars)"; exit 1; }
  log "fetching Apache Kafka $version jars from Maven Central into $libs"
  rm -rf "$libs"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

java_run() {
  java $java_opts -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*" "$@"
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  java -Xmx256m -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list >/dev/null 2>&1
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

configure() {
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/logs
num.partitions=4
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.flush.interval.messages=9223372036854775807
PROPS
  # Extra broker settings, space-separated key=value pairs (benchmarks try
  # thread counts and the like this way).
  local extra
  for extra in ${PAYMATCH_KAFKA_PROPERTIES:-}; do echo "$extra" >> "$data/server.properties"; done
  cat > "$data/log4j2.properties" <<PROPS
appender.file.type=File
appender.file.name=file
appender.file.fileName=$data/broker.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.server.name=kafka.server.KafkaRaftServer
logger.server.level=INFO
PROPS
}

up() {
  if running && answers; then log "already running on 127.0.0.1:$port"; return; fi
  fetch
  if [ -n "${PAYMATCH_KAFKA_KEEP:-}" ] && [ -f "$data/logs/meta.properties" ]; then
    configure
  else
    rm -rf "$data"
    configure
    local cluster_id
    cluster_id="$(java_run kafka.tools.StorageTool random-uuid)"
    java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" >/dev/null
  fi
  mkdir -p "$home"
  nohup java $java_opts -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*" \
    kafka.Kafka "$data/server.properties" >"$data/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  if [ -n "${PAYMATCH_KAFKA_OWNER_PID:-}" ]; then
    local broker_pid=$!
    nohup bash -c "while kill -0 $PAYMATCH_KAFKA_OWNER_PID 2>/dev/null && kill -0 $broker_pid 2>/dev/null; do sleep 1; done
      if kill -0 $broker_pid 2>/dev/null; then kill -KILL $broker_pid; rm -rf '$data' '$pidfile'; fi" \
      >/dev/null 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    if answers; then log "up on 127.0.0.1:$port (Apache Kafka $version, KRaft; data in $data)"; return; fi
    if ! running; then log "the broker exited; see $data/stdout.log and $data/broker.log"; tail -20 "$data/stdout.log" >&2 || true; exit 1; fi
    sleep 1
  done
  log "no answer on 127.0.0.1:$port after 120 s; see $data/broker.log"
  exit 1
}

down() {
  if running; then
    local pid; pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then log "still running after 60 s: SIGKILL"; kill -KILL "$pid"; fi
    log "stopped"
  fi
  rm -f "$pidfile"
  if [ -z "${PAYMATCH_KAFKA_KEEP:-}" ]; then rm -rf "$data"; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status)
    if running && answers; then echo "running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else echo "not running"; exit 1; fi ;;
  topics) shift; fetch; java -Xmx256m -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" "$@" ;;
  read) shift; fetch; java -Xmx256m -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*" org.apache.kafka.tools.consumer.ConsoleConsumer \
      --bootstrap-server "127.0.0.1:$port" --topic "$1" --from-beginning --timeout-ms 5000 \
      --consumer-property isolation.level=read_committed 2>/dev/null || true ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
