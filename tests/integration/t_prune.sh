#!/usr/bin/env bash
# One-time challenges bound to a subject (scepctl challenge new --subject): a request
# with another subject is refused and leaves the challenge unused; its own subject
# enrols. Pruning: scepctl db prune and worker 0's background prune delete the spent
# challenges and rejected requests older than storage.keep_days, and nothing else.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

PORT=$(free_port)
base=http://127.0.0.1:$PORT
make_scep_ca "$TMP"
write_config "$TMP/scepd.conf" "workers = 2;"
cat >>"$TMP/scepd.conf" <<CONF
scep: {
	challenge = { mode = "otp"; };
	subject = { request = ["*"]; };
};
CONF
sed -i "s|^storage: {|storage: { keep_days = 1; prune_interval = 10;|" "$TMP/scepd.conf"
grep -q "keep_days = 1" "$TMP/scepd.conf" || fail "the storage settings did not go in"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" db migrate >/dev/null || fail "db migrate"

n=0
scep() { # NAME SUBJECT [CHALLENGE]: VERDICT, $TMP/NAME.pem on success
	n=$((n + 1))
	scep_pkioperation "$1" "$base/scep" "$TMP/ca.der" --txid "t$n-$1" --subject "$2" \
		${3:+--challenge "$3"}
}

start_scepd "$TMP/scepd.conf"
curl -sf -o "$TMP/ca.der" "$base/scep?operation=GetCACert" || fail "GetCACert"

# A challenge for one device's subject: another subject (also a near miss, and the
# same names in the other order) is refused and the challenge stays unused.
bound=$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --subject "CN=device1,O=Example") ||
	fail "challenge new --subject"
scep thief "/O=Example/CN=device2" "$bound"
assert_eq "FAILURE badRequest" "$VERDICT" "another subject with a bound challenge"
scep near "/O=Example/CN=device1/OU=x" "$bound"
assert_eq "FAILURE badRequest" "$VERDICT" "a near-miss subject with a bound challenge"
grep -q "the challenge password is for another subject" "$TMP/scepd.log" ||
	fail "the refusal does not say why"
assert_eq 0 "$(store_sql "SELECT count(*) FROM challenges WHERE used_at IS NOT NULL")" \
	"a refused subject used up the challenge"
scep device1 "/O=Example/CN=device1" "$bound"
assert_eq "SUCCESS" "$VERDICT" "the bound challenge for its own subject"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/device1.pem" >/dev/null || fail "device1 does not verify"
assert_eq "subject=O = Example, CN = device1" "$(openssl x509 -in "$TMP/device1.pem" -noout -subject)" \
	"device1's subject"
scep again "/O=Example/CN=device1" "$bound"
assert_eq "FAILURE badRequest" "$VERDICT" "the bound challenge a second time"
! "$SCEPCTL_BIN" -c "$TMP/scepd.conf" issued --subject x >/dev/null 2>&1 ||
	fail "--subject accepted by issued"
pass "a subject-bound challenge: refused for other subjects (left unused), enrols its own once"

# Spent rows, aged: expired 3 days ago unused, used 2 days ago, rejected 2 days ago;
# and what must stay: an unused valid challenge, one that expired an hour ago, a
# pending request, a rejection of today, the issued certificate.
now=$(date +%s)
for i in 1 2 3 4; do
	"$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new >/dev/null || fail "challenge new"
done
store_sql "UPDATE challenges SET created_at = $((now - 5 * 86400)), expires_at = $((now - 3 * 86400))
	WHERE id IN (SELECT id FROM challenges WHERE used_at IS NULL ORDER BY id LIMIT 2)"
store_sql "UPDATE challenges SET created_at = $((now - 5 * 86400)), expires_at = $((now - 3600))
	WHERE id IN (SELECT id FROM challenges WHERE used_at IS NULL AND expires_at > $now ORDER BY id LIMIT 1)"
store_sql "UPDATE challenges SET used_at = $((now - 2 * 86400)) WHERE used_at IS NOT NULL"
sed -i 's|mode = "otp";|mode = "none";|; s|subject = { request|approval = "manual"; subject = { request|' "$TMP/scepd.conf"
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 30 || fail "no reload to manual approval"
for name in r1 r2 keep; do
	scep "$name" "/CN=$name"
	assert_eq "PENDING" "$VERDICT" "$name pending"
done
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" reject t$((n - 2))-r1 >/dev/null || fail "reject r1"
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" reject t$((n - 1))-r2 >/dev/null || fail "reject r2"
store_sql "UPDATE pending_requests SET decided_at = $((now - 2 * 86400)) WHERE transaction_id = 't$((n - 2))-r1'"
assert_eq "5|3" "$(store_sql "SELECT (SELECT count(*) FROM challenges), (SELECT count(*) FROM pending_requests)")" \
	"rows before pruning"

# On demand, with a cut-off of 30 days: nothing is that old.
assert_eq "pruned 0 challenge(s) and 0 rejected request(s) older than 30 days" \
	"$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" db prune 30)" "db prune 30"
! "$SCEPCTL_BIN" -c "$TMP/scepd.conf" db prune soon >/dev/null 2>&1 || fail "db prune took 'soon'"

# In the background: worker 0 prunes 10 s after it started, then every 10 s.
wait_log "pruned 3 challenge(s) and 1 rejected request(s) older than 1 days" 40 ||
	fail "no background prune: $(grep -i prune "$TMP/scepd.log" | tail -3)"
assert_eq "2|2" "$(store_sql "SELECT (SELECT count(*) FROM challenges), (SELECT count(*) FROM pending_requests)")" \
	"rows after pruning"
assert_eq "0" "$(store_sql "SELECT count(*) FROM pending_requests WHERE transaction_id = 't$((n - 2))-r1'")" \
	"the old rejection is gone"
assert_eq "1" "$(store_sql "SELECT count(*) FROM certificates")" "the issued certificate stays"
assert_eq "ok" "$(store_integrity)" "store integrity"
# The workers went on serving through the prune.
curl -sf -o /dev/null "$base/healthz" || fail "scepd stopped serving after the prune"

# On demand with today's cut-off (0 days): the challenge that expired an hour ago goes
# too, and the rejection of today.
assert_eq "pruned 1 challenge(s) and 1 rejected request(s) older than 0 days" \
	"$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" db prune 0)" "db prune 0"
assert_eq "1|1" "$(store_sql "SELECT (SELECT count(*) FROM challenges), (SELECT count(*) FROM pending_requests)")" \
	"rows after db prune 0"
pass "db prune and the background prune delete spent challenges and old rejections only"
