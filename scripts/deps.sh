#!/usr/bin/env bash
# Installs the Debian 12 packages mod_sinch_reminder needs to build, run and test, if any is missing.
# Sourced by scripts/run and scripts/test; needs root or sudo only when something is missing.
set -euo pipefail
SR_PACKAGES=(
  g++ cmake make pkg-config
  apache2 apache2-dev libapr1-dev libaprutil1-dev
  libcurl4-openssl-dev libssl-dev libjansson-dev libicu-dev libpqxx-dev libpq-dev
  libphonenumber-dev libabsl-dev libprotobuf-dev libkainjow-mustache-dev libcppunit-dev
  postgresql postgresql-client curl ca-certificates python3 tzdata
)
sr_install_missing_packages() {
  local missing=() p
  for p in "${SR_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "run as root or install sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  local i
  for i in 1 2 3; do "${sudo[@]}" apt-get update -q && break; sleep 5; done
  for i in 1 2 3; do
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}" && return 0
    sleep 5
  done
  return 1
}
