#!/usr/bin/env bash
# What unauthenticated and refused SCEP requests cost the worker, next to GetCACaps in
# the same run: N GetCACaps, N pkiMessages whose signature does not verify, N verified
# PKCSReqs with a wrong challenge (with the default scep.refusals_per_minute and
# without a limit). One worker, one thread, an RSA-4096 CA key in a file (a slow key
# shows what a smartcard suffers); the worker's CPU is read from /proc before and after
# each batch. Prints one table, the costs as multiples of GetCACaps.
#
#   bench/refusal_cost.sh [N]      N requests per row (default 300)
#
# Needs a build (build/scepd, build/tests/scep_client): scripts/test.sh makes one;
# BUILD_DIR picks another. Loopback only; every batch is N requests and stops.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
n=${1:-300}
tmp=$(mktemp -d /tmp/scepd-refusal-cost.XXXXXX)
pid=
cleanup() {
	[[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:4096 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
	-subj "/CN=refusal cost CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment 2>/dev/null
printf 's3cret' >"$tmp/challenge"

# start LIMIT: scepd on a free port with scep.refusals_per_minute = LIMIT.
start() {
	[[ -z "$pid" ]] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
	port=$((20000 + RANDOM % 10000))
	cat >"$tmp/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$port"]; workers = 1; threads = 1; };
ca: { certificate = "$tmp/ca.pem"; key = "$tmp/ca.key"; };
scep: { challenge = { mode = "static"; secret = "file:$tmp/challenge"; };
	refusals_per_minute = $1; };
storage: { uri = "sqlite:$tmp/scepd.db"; };
log: { level = "warning"; };
CONF
	"$build/scepd" -c "$tmp/scepd.conf" -f 2>>"$tmp/scepd.log" &
	pid=$!
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	worker=$(pgrep -P "$pid")
	url=http://127.0.0.1:$port/scep
}

ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }

# batch CURL-ARGS...: the worker's CPU ticks for n requests
batch() {
	local before
	before=$(ticks)
	for _ in $(seq 1 "$n"); do
		curl -s -o /dev/null "$@"
	done
	echo $(($(ticks) - before))
}

start 20
curl -sf -o "$tmp/ca.bin" "$url?operation=GetCACert"
"$build/tests/scep_client" request --ca "$tmp/ca.bin" --state "$tmp/bad.st" --out "$tmp/bad.msg" \
	--key "$tmp/dev.key" --subject /CN=x --challenge s3cret --break bad-signature
"$build/tests/scep_client" request --ca "$tmp/ca.bin" --state "$tmp/wrong.st" \
	--out "$tmp/wrong.msg" --key "$tmp/dev.key" --subject /CN=x --challenge wrong
caps=$(batch "$url?operation=GetCACaps")
bad=$(batch --data-binary @"$tmp/bad.msg" "$url?operation=PKIOperation")
limited=$(batch --data-binary @"$tmp/wrong.msg" "$url?operation=PKIOperation")
start 0
unlimited=$(batch --data-binary @"$tmp/wrong.msg" "$url?operation=PKIOperation")

hz=$(getconf CLK_TCK)
row() { # WHAT TICKS
	awk -v what="$1" -v t="$2" -v caps="$caps" -v n="$n" -v hz="$hz" 'BEGIN {
		printf "| %s | %.3f | %.1fx |\n", what, t * 1000 / hz / n, caps ? t / caps : 0 }'
}
echo "| $n requests each, one worker, RSA-4096 CA key | worker CPU ms / request | vs GetCACaps |"
echo "|---|---:|---:|"
row "GetCACaps" "$caps"
row "pkiMessage whose signature does not verify" "$bad"
row "wrong challenge, refusals_per_minute = 20" "$limited"
row "wrong challenge, no limit" "$unlimited"
