#!/usr/bin/env bash
# Installs the Debian 12 packages AgentHub needs to build, test and run locally.
# poppler-glib, cairo and libtiff read PDFs and multi-page scans (the docworker); the FastAPI
# packages run the seed-stack peer of make bench (tests/bench). Java 17 and Maven run and fetch
# real Apache Kafka (compose/local/kafka-fetch); cmake and python3-venv build the real small
# model's server (compose/local/llm-venv).
# As root it runs apt-get; otherwise it prints the command to run. Quiet when all is present.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev
  librdkafka-dev libpq-dev libhiredis-dev libcurl4-openssl-dev libjson-c-dev libjwt-dev
  libcivetweb-dev libssl-dev libcmocka-dev libtesseract-dev libleptonica-dev
  libpoppler-glib-dev libcairo2-dev libtiff-dev
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-vie
  postgresql redis-server kcat curl procps psmisc wrk
  python3 python3-jwt python3-cryptography python3-venv
  python3-fastapi python3-uvicorn python3-asyncpg python3-confluent-kafka
  openjdk-17-jre-headless maven cmake
  nodejs npm
  cppcheck clang-tidy clang-format
  chromium
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian (the machine image ships its own).
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a system redis-server on install; AgentHub runs its own on its own port.
