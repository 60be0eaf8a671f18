#!/usr/bin/env bash
# Installs the Debian packages the gateway needs to build, run and test.
# Idempotent and quiet: when everything is there it prints nothing and exits 0.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang libclang-rt-dev
  librdkafka-dev libmicrohttpd-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev libssl-dev
  kcat curl python3 wrk
)

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
