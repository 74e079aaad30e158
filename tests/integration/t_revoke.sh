#!/usr/bin/env bash
# Revocation with scepctl against the store of a running scepd: revoke (reasons, --date,
# --txid), unrevoke (a certificateHold only), revoked, the status fields of issued; the
# exit statuses 4, 5 and 6; the audit record (who, what, why) and the store's columns
# (revoked_at, revocation_reason, revoked_by, the CA's change counter).
. "$(dirname "$0")/lib.sh"

SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}
[[ $SCEPD_TEST_STORE != sqlite ]] || command -v sqlite3 >/dev/null ||
	skip "the sqlite3 program is not installed"
blob() { # HEX: a blob literal in the store's SQL
	if [[ $SCEPD_TEST_STORE == sqlite ]]; then echo "x'$1'"; else echo "decode('$1', 'hex')"; fi
}

# Runs scepctl; its stdout in $TMP/out, stderr in $TMP/err, exit status in $rc.
ctl() {
	rc=0
	"$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
}

# Exit status STATUS, nothing on stdout, one line on stderr matching PATTERN.
assert_refused() { # STATUS WHAT PATTERN
	assert_eq "$1" "$rc" "exit status of $2"
	assert_eq 0 "$(wc -c <"$TMP/out")" "bytes on stdout of $2"
	assert_eq 1 "$(wc -l <"$TMP/err")" "lines on stderr of $2: $(cat "$TMP/err")"
	grep -qE "$3" "$TMP/err" || fail "$2: unexpected message: $(cat "$TMP/err")"
}

# Exit 0, nothing on stdout, the audit records on stderr (one line each).
assert_audited() { # WHAT LINES PATTERN
	assert_eq 0 "$rc" "exit status of $1: $(cat "$TMP/err")"
	assert_eq 0 "$(wc -c <"$TMP/out")" "bytes on stdout of $1"
	assert_eq "$2" "$(grep -cE "$3" "$TMP/err")" "audit lines of $1: $(cat "$TMP/err")"
	assert_eq "$2" "$(wc -l <"$TMP/err")" "lines on stderr of $1"
}

column() { # SERIAL COLUMN: one column of the certificate's row ('-' for NULL)
	store_sql "SELECT coalesce(CAST($2 AS text), '-') FROM certificates WHERE serial = '$1'"
}

PORT=$(free_port)
write_config "$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
user=$(id -un)

issue() { # NAME: POST /csr for CN=NAME, prints the serial as the store keeps it
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TMP/$1.key" -subj "/CN=$1" -out "$TMP/$1.csr" 2>/dev/null
	curl -sf -o "$TMP/$1.pem" --data-binary @"$TMP/$1.csr" "http://127.0.0.1:$PORT/csr" ||
		fail "POST /csr for $1"
	openssl x509 -in "$TMP/$1.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//'
}
s1=$(issue one)
s2=$(issue two)
s3=$(issue three)
assert_eq "- - -" "$(column "$s1" revoked_at) $(column "$s1" revocation_reason) \
$(column "$s1" revoked_by)" "a new certificate is not revoked"
pass "three certificates from /csr"

# revoke: exit 0, silent on stdout, one audit record; the store has the date, reason, who.
before=$(date +%s)
ctl revoke "$(tr 'A-F' 'a-f' <<<"$s1")" --reason keyCompromise
assert_audited "revoke" 1 "^scepctl\[[0-9]+\]: info: audit: result=revoked endpoint=csr \
profile=csr serial=$s1 subject=\"CN=one\" reason=keyCompromise ca=default user=\"?$user\"?$"
assert_eq "1 $user" "$(column "$s1" revocation_reason) $(column "$s1" revoked_by)" \
	"reason and revoked_by"
at=$(column "$s1" revoked_at)
((at >= before && at <= $(date +%s))) || fail "revoked_at $at is not now"
assert_eq 1 "$(store_sql "SELECT changes FROM revocation_state WHERE ca = 'default'")" \
	"the CA's change counter"
pass "revoke: reason, date and who in the store; an audit record with who, what and why"

ctl revoke "$s1" --reason superseded
assert_refused 5 "revoke twice" "^scepctl: cannot revoke '$s1': revoked already \
\(keyCompromise, [0-9T:-]+Z\)$"
assert_eq 1 "$(column "$s1" revocation_reason)" "reason after revoking twice"
ctl revoke ABCDEF0123
assert_refused 4 "revoke unknown" "^scepctl: no certificate with serial 'ABCDEF0123'$"
ctl revoke not-hex
assert_refused 4 "revoke not hex" "^scepctl: no certificate with serial 'not-hex'$"
for r in bogus removeFromCRL 1 ""; do
	ctl revoke "$s3" --reason "$r"
	assert_refused 1 "revoke --reason '$r'" "^scepctl: --reason: '$r' is not a reason"
done
ctl revoke "$s3" --date "$(date -u -d tomorrow +%Y-%m-%d)"
assert_refused 1 "revoke --date tomorrow" "^scepctl: --date: .* is in the future"
for d in 2024-13-01 yesterday 2024-01-01T00:00:00 "2024-01-01 00:00:00Z"; do
	ctl revoke "$s3" --date "$d"
	assert_refused 1 "revoke --date '$d'" "^scepctl: --date: '$d' is not a date"
done
ctl revoke "$s3" --txid TX
assert_eq 1 "$rc" "revoke with a serial and --txid"
ctl revoke
assert_eq 1 "$rc" "revoke without a serial"
ctl issued --reason keyCompromise
assert_eq 1 "$rc" "issued --reason"
assert_eq - "$(column "$s3" revoked_at)" "the refusals left $s3 alone"
assert_eq 1 "$(store_sql "SELECT changes FROM revocation_state WHERE ca = 'default'")" \
	"the counter after the refusals"
pass "revoke refuses: revoked already (5), unknown (4), a bad reason or date, usage (1)"

# A hold, backdated, lifted, then a final revocation.
ctl revoke "$s2" --reason certificateHold --date 2024-01-02
assert_audited "revoke --reason certificateHold" 1 "result=revoked .*serial=$s2 .*reason=certificateHold"
assert_eq "1704153600 6" "$(column "$s2" revoked_at) $(column "$s2" revocation_reason)" \
	"a backdated hold"
ctl revoke "$s3" --date 2024-01-02T03:04:05Z --reason Superseded
assert_eq 0 "$rc" "revoke --date with a time"
assert_eq "1704164645 4" "$(column "$s3" revoked_at) $(column "$s3" revocation_reason)" \
	"--date with a time, a reason in another case"
ctl unrevoke "$s1"
assert_refused 6 "unrevoke a final reason" "^scepctl: cannot unrevoke '$s1': revoked for \
keyCompromise, which is final \(only a certificateHold can be lifted\)$"
ctl unrevoke ABCDEF0123
assert_refused 4 "unrevoke unknown" "^scepctl: no certificate with serial 'ABCDEF0123'$"
ctl unrevoke "$s2"
assert_audited "unrevoke" 1 "result=unrevoked .*serial=$s2 subject=\"CN=two\" reason=removeFromCRL \
ca=default user=\"?$user\"?$"
assert_eq "- - $user" "$(column "$s2" revoked_at) $(column "$s2" revocation_reason) \
$(column "$s2" revoked_by)" "a lifted hold: not revoked, who lifted it"
ctl unrevoke "$s2"
assert_refused 6 "unrevoke twice" "^scepctl: cannot unrevoke '$s2': it is not revoked$"
ctl revoke "$s2" --reason cessationOfOperation
assert_eq 0 "$rc" "revoke after the hold was lifted"
assert_eq 5 "$(store_sql "SELECT changes FROM revocation_state WHERE ca = 'default'")" \
	"the counter: 4 revocations and 1 hold lifted"
pass "a backdated hold, lifted by unrevoke (a final reason cannot be: 6), revoked again"

# revoked: every revoked certificate, in revocation order; issued: status, reason, date.
ctl revoked
assert_eq 0 "$rc" "revoked"
date1=$(date -u -d "@$(column "$s1" revoked_at)" +%Y-%m-%dT%H:%M:%SZ)
date2=$(date -u -d "@$(column "$s2" revoked_at)" +%Y-%m-%dT%H:%M:%SZ)
assert_eq "$s3	CN=three	superseded	2024-01-02T03:04:05Z	csr	default	$user
$s1	CN=one	keyCompromise	$date1	csr	default	$user
$s2	CN=two	cessationOfOperation	$date2	csr	default	$user" "$(cat "$TMP/out")" "revoked"
ctl issued --serial "$s1"
assert_eq "revoked	keyCompromise	$date1" "$(cut -f12- "$TMP/out")" "issued: a revoked one"
s4=$(issue four)
ctl issued --serial "$s4"
assert_eq "valid	-	-" "$(cut -f12- "$TMP/out")" "issued: a valid one"
assert_eq "csr	default" "$(cut -f10,11 "$TMP/out")" "issued: the fields before keep their place"
pass "revoked lists them in revocation order; issued ends with status, reason and date"

# --txid: every certificate of a SCEP transaction (written here by hand).
store_sql "INSERT INTO certificates (serial, subject, sans, not_before, not_after, der,
	requester, endpoint, transaction_id, issued_at, profile, ca) VALUES
	('7A0001', 'CN=ipad', '', 1700000000, 4102444800, $(blob 3000), '192.0.2.5', 'scep',
	 'TXR-1', 1700000001, 'scep', 'default'),
	('7A0002', 'CN=ipad', '', 1700000000, 4102444800, $(blob 3001), '192.0.2.5', 'scep',
	 'TXR-1', 1700000002, 'scep', 'default')" >/dev/null
ctl revoke --txid TXR-1 --reason affiliationChanged
assert_audited "revoke --txid" 2 "result=revoked endpoint=scep profile=scep serial=7A000[12] \
subject=\"CN=ipad\" reason=affiliationChanged ca=default"
assert_eq "3 3" "$(column 7A0001 revocation_reason) $(column 7A0002 revocation_reason)" \
	"reasons after revoke --txid"
ctl revoke --txid TXR-1
assert_eq 5 "$rc" "revoke --txid again"
assert_eq 2 "$(grep -c "revoked already (affiliationChanged" "$TMP/err")" "revoke --txid again"
ctl revoke --txid NOPE
assert_refused 4 "revoke --txid unknown" "^scepctl: no certificate with transaction id 'NOPE'$"
assert_eq 7 "$(store_sql "SELECT changes FROM revocation_state WHERE ca = 'default'")" \
	"the counter after --txid"
pass "revoke --txid: the transaction's certificates; again 5, unknown 4"

# scepd serves on; the store is sound.
curl -sf -o /dev/null --data-binary @"$TMP/one.csr" "http://127.0.0.1:$PORT/csr" ||
	fail "POST /csr after the revocations"
assert_eq ok "$(store_integrity)" "integrity"
pass "scepd serves on; the store is sound"
