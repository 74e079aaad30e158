#!/usr/bin/env bash
# Installs what is missing, builds scepd, makes a demo CA whose key lives in a SoftHSM2
# token under ./demo/ (first run only) and runs scepd in the foreground on
# 127.0.0.1:8080 with logs on stderr. Ctrl-C stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
"$top/scripts/demo-ca.sh" "$top/demo"
export SOFTHSM2_CONF=$top/demo/softhsm2.conf
"$top/build/scepd" -c "$top/demo/scepd.conf" -t
echo "scepd: serving the demo CA on http://127.0.0.1:8080 (try: curl http://127.0.0.1:8080/healthz)" >&2
exec "$top/build/scepd" -c "$top/demo/scepd.conf" -f
