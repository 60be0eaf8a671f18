#!/usr/bin/env bash
# Installs the Debian packages the gateway needs to build, run and test,
# Java and Maven included (scripts/kafka.sh runs Apache Kafka from Maven Central).
# Idempotent and quiet: when everything is there it prints nothing and exits 0.
# A Java 17 or newer already on the PATH counts as Java.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang clang-format libclang-rt-dev
  librdkafka-dev libmicrohttpd-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev libssl-dev
  kcat curl python3 python3-botocore openssl wrk maven
)
# Apache Kafka 4 needs Java 17 or newer.
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then pkgs+=(openjdk-17-jre-headless); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
