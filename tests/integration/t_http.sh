#!/usr/bin/env bash
# HTTP basics: /healthz, 404 and 405 with one line of text, 413 before the body is read.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
listen="\"127.0.0.1:$PORT\""
have_ipv6=false
if ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 ::1/"; then
	have_ipv6=true
	listen="$listen, \"[::1]:$PORT\""
fi
write_config "$TMP/scepd.conf" "workers = 1; max_request_bytes = 131072; request_timeout = 1;"
sed -i "s|listen = \[.*\];|listen = [$listen];|" "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
url=http://127.0.0.1:$PORT

if $have_ipv6; then
	assert_eq ok "$(curl -s "http://[::1]:$PORT/healthz")" "/healthz over IPv6"
	pass "IPv4 and IPv6 listeners"
else
	echo "note: no IPv6 loopback here, IPv6 listener not tested"
fi

# request_timeout: a connection that sends nothing is closed after 1 s.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
start=$SECONDS
read -r -t 5 -u 3 _ && fail "got data on an idle connection" || true
((SECONDS - start < 4)) || fail "idle connection not closed by request_timeout = 1"
exec 3<&-
pass "idle connection closed after request_timeout"

assert_eq "200 ok" "$(curl -s -w '%{http_code} ' -o /dev/null "$url/healthz")$(curl -s "$url/healthz")" \
	"/healthz"
assert_eq "404" "$(curl -s -o "$TMP/body" -w '%{http_code}' "$url/nope")" "unknown path"
assert_eq "not found: /nope" "$(cat "$TMP/body")" "404 text"
assert_eq 1 "$(wc -l <"$TMP/body")" "404 body lines"
assert_eq "405" "$(curl -s -o "$TMP/body" -D "$TMP/headers" -X DELETE -w '%{http_code}' "$url/healthz")" \
	"DELETE /healthz"
assert_eq "method not allowed" "$(cat "$TMP/body")" "405 text"
grep -qi '^Allow: GET, HEAD' "$TMP/headers" || fail "405 without an Allow header"
pass "200, 404, 405"

head -c 204800 /dev/urandom >"$TMP/big"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' --data-binary @"$TMP/big" \
	-H 'Content-Type: application/octet-stream' "$url/healthz")
assert_eq 413 "$code" "200 KiB body against a 131072-byte limit"
assert_eq "request body too large: the limit is 131072 bytes" "$(cat "$TMP/body")" "413 text"
assert_eq 0 "$(request_loop /healthz 5)" "requests after the 413"
pass "413 for a 200 KiB body"
