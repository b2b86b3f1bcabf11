#!/usr/bin/env bash
# Make sure the Debian packages mptcp.lab needs are installed.
#
# Installs only what is missing (so a second run installs nothing). As root on
# Debian it uses apt-get; otherwise it lists what is missing and fails.
#
# Installing a package must not change what runs on the machine: no service
# of a package installed here is started (a temporary policy-rc.d denies it,
# unless the machine has its own), and on a systemd machine the units of the
# packages asked for (e.g. mptcpd's mptcp.service, openssh-server's ssh.service)
# are left disabled, as they were before (they did not exist).
#
# Usage: scripts/bootstrap-system.sh PACKAGE...
set -euo pipefail

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${MPTCP_LAB_UID:-$(id -u)}" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "mptcp.lab needs these Debian packages, which are not installed:" >&2
  echo "    ${missing[*]}" >&2
  echo "Install them as root (apt-get install ${missing[*]}) or run make as root." >&2
  exit 1
fi

policy=${MPTCP_LAB_POLICY_RC_D:-/usr/sbin/policy-rc.d}   # the variable is for the tests
if [ ! -e "$policy" ]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# mptcp.lab bootstrap: no service starts while it installs packages\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
fi

echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 -print -quit 2>/dev/null)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"

if [ -d "${MPTCP_LAB_SYSTEMD_RUN:-/run/systemd/system}" ] && command -v systemctl >/dev/null; then
  units=()
  for pkg in "${missing[@]}"; do
    while IFS= read -r path; do
      case "$path" in
        */systemd/system/*@.*) ;;   # templates: nothing is enabled from them
        */systemd/system/*.service | */systemd/system/*.socket) units+=("$(basename "$path")") ;;
      esac
    done < <(dpkg-query -L "$pkg" 2>/dev/null || true)
  done
  if [ ${#units[@]} -gt 0 ]; then
    echo "Leaving the new units disabled and stopped: ${units[*]}"
    for unit in "${units[@]}"; do
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi
