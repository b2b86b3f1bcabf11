#!/usr/bin/env bash
# Run ansible-test on a copy of the collection, offline-safe.
#
# ansible-test insists on running from .../ansible_collections/<ns>/<name>
# (a real directory, not a symlink), so this copies the files git knows about
# (tracked, plus untracked ones that are not ignored) into
# a temporary .../ansible_collections/mptcp/lab and runs there.
#
# Usage: scripts/ansible-test.sh sanity [ansible-test options...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
# A private copy per invocation, so concurrent runs never share one.
work=$(mktemp -d "${TMPDIR:-/tmp}/mptcp-lab-ansible-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/mptcp/lab"

# Seed the get-pip shim under the name ansible-test looks for (pip version in its cache file name).
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
src = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$root/scripts/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"

mkdir -p "$dest"
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  grep -zv '^\.collections/' |
  (cd "$root" && tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$dest"
# ansible-test lists files with git when it finds a repository.
git -C "$dest" init -q
git -C "$dest" add -A

python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$dest"
PATH="$venv/bin:$PATH" ansible-test "$@" --local --python "$python_version" --color no
