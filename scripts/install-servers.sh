#!/usr/bin/env bash
# Install the Debian packages named on the command line that are not installed yet.
# Used by `make test` so that a fresh machine needs no set-up by hand.
set -euo pipefail
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-servers: need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 2
  fi
fi
echo "install-servers: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
