#!/usr/bin/env bash
# Build the wheel and check it works installed on its own, away from the source tree:
# `airflow providers hooks` lists the four connection types and the sandbox answers.
# Quick: the wheel goes (--no-deps) into a fresh venv that sees the pinned dependencies of .venv
# through a .pth path line (a path line does not run .venv's editable-install hook, so the
# provider can only come from the wheel; the script checks it does).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "${sandbox_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel --no-deps -q -w "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
# Listed once into a variable: `unzip -l | grep -q` under pipefail fails at random when grep exits at
# its first match and unzip, still writing, dies of SIGPIPE.
listing=$(unzip -l "$wheel")
grep -q "dist-info/licenses/LICENSE" <<<"$listing" || { echo "LICENSE missing from the wheel"; exit 1; }
grep -q "airflow_contact_removal/py.typed" <<<"$listing" || { echo "py.typed missing from the wheel"; exit 1; }
python3 -m venv "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/pinned-deps.pth"
"$work/venv/bin/pip" install -q --no-deps "$wheel" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
cd "$work"
export AIRFLOW_HOME="$work/home" PATH="$work/venv/bin:$PATH"
where=$(python -c 'import airflow_contact_removal as m; print(m.__file__)')
case "$where" in "$site"/*) ;; *) echo "provider imported from $where, not the wheel"; exit 1 ;; esac
hooks=$(python -m airflow providers hooks -o plain 2>/dev/null)
for conn_type in autosend wooxy bird migma; do
    grep -q "airflow_contact_removal.hooks.*$conn_type\|$conn_type.*airflow_contact_removal" <<<"$hooks" \
        || { echo "airflow providers hooks does not list $conn_type"; echo "$hooks"; exit 1; }
done
python -m airflow_contact_removal.sandbox --port 0 > "$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 100); do grep -qo "http://127.0.0.1:[0-9]*" "$work/sandbox.log" && break; sleep 0.2; done
url=$(grep -o -m1 "http://127.0.0.1:[0-9]*" "$work/sandbox.log")
[ -n "$url" ] || { echo "the sandbox did not start"; cat "$work/sandbox.log"; exit 1; }
python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/_sandbox/state', timeout=10)" "$url" \
    || { echo "the sandbox did not answer at $url"; exit 1; }
echo "OK: wheel $(basename "$wheel") installed from $where; 4 connection types listed; sandbox answered at $url"
