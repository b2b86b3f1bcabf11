#!/usr/bin/env bash
# Make sure the Debian packages mptcp.lab needs are installed.
#
# Installs only what is missing (so a second run installs nothing). As root on
# Debian/Ubuntu it uses apt-get; otherwise it lists what is missing and fails.
#
# Usage: scripts/bootstrap-system.sh PACKAGE...
set -euo pipefail

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "mptcp.lab needs these Debian packages, which are not installed:" >&2
  echo "    ${missing[*]}" >&2
  echo "Install them as root (apt-get install ${missing[*]}) or run make as root." >&2
  exit 1
fi

echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 -print -quit 2>/dev/null)" ]; then
  apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
