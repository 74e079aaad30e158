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
cat >&2 <<EOF
scepd: serving the demo CA on http://127.0.0.1:8080. Try, from another terminal:
  curl http://127.0.0.1:8080/healthz
  openssl req -new -newkey rsa:2048 -nodes -keyout host.key -subj /CN=host.example -out host.csr
  curl --data-binary @host.csr http://127.0.0.1:8080/csr > host.pem
  mkdir -p client && scepclient -server-url http://127.0.0.1:8080/scep \\
      -private-key client/key.pem -certificate client/cert.pem -cn demo-device
  openssl verify -CAfile demo/ca.pem host.pem client/cert.pem
EOF
exec "$top/build/scepd" -c "$top/demo/scepd.conf" -f
