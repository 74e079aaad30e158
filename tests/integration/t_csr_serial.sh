#!/usr/bin/env bash
# ca.serial = "file:...": serials strictly increasing across workers and restarts.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
open_csr "$TMP/scepd.conf"
sed -i "s|^\tkey = \"\(.*\)\";|\tkey = \"\1\";\n\tserial = \"file:$TMP/serial\";|" "$TMP/scepd.conf"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=serial.example" -out "$TMP/req.csr" 2>/dev/null

issue() { # N: N requests from 2 parallel clients; serials (decimal) appended to $TMP/serials
	local pids=()
	for c in 1 2; do
		(for _ in $(seq 1 $(($1 / 2))); do
			curl -sf --data-binary @"$TMP/req.csr" "http://127.0.0.1:$PORT/csr" |
				openssl x509 -noout -serial | cut -d= -f2
		done >"$TMP/part.$c") &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$TMP"/part.* | while read -r hex; do echo $((16#$hex)); done >>"$TMP/serials"
}

start_scepd "$TMP/scepd.conf"
issue 40
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
start_scepd "$TMP/scepd.conf"
issue 40

first_max=$(head -n 40 "$TMP/serials" | sort -n | tail -n 1)
second_min=$(tail -n 40 "$TMP/serials" | sort -n | head -n 1)
((first_max < second_min)) || fail "after the restart serial $second_min <= $first_max"
sort -n "$TMP/serials" >"$TMP/sorted"
assert_eq 80 "$(sort -un "$TMP/serials" | wc -l)" "distinct serials over two runs"
assert_eq "$(seq 1 80 | tr '\n' ' ')" "$(tr '\n' ' ' <"$TMP/sorted")" "serials 1..80 without gaps"
assert_eq 80 "$(store_sql 'SELECT count(*) FROM certificates')" "records"
pass "serial file: 1..80 across 2 workers and a restart"
