#!/usr/bin/env bash
# scepctl against the database a running scepd created: issued (all, --serial,
# --profile; the profile and CA of each), pending (with the SANs and key of each stored
# CSR, escaped, and its profile), approve, reject, challenge new (only a hash stored);
# its errors and exit codes.
. "$(dirname "$0")/lib.sh"

SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}
command -v sqlite3 >/dev/null || skip "the sqlite3 program is not installed"
db=$TMP/scepd.db
sql() { # SQL: on the store of $SCEPD_TEST_STORE
	if [[ $SCEPD_TEST_STORE == sqlite ]]; then
		sqlite3 -cmd ".timeout 5000" "$db" "$@"
	else
		store_sql "$@"
	fi
}
blob() { # HEX: a blob literal in the store's SQL
	if [[ $SCEPD_TEST_STORE == sqlite ]]; then echo "x'$1'"; else echo "decode('$1', 'hex')"; fi
}

# Runs scepctl; its stdout in $TMP/out, stderr in $TMP/err, exit status in $rc.
ctl() {
	rc=0
	"$SCEPCTL_BIN" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
}

# The command failed with exit 1 and said so in exactly one line on stderr, none on stdout.
assert_refused() { # WHAT EXPECTED-LINE-PATTERN
	assert_eq 1 "$rc" "exit status of $1"
	assert_eq 1 "$(wc -l <"$TMP/err")" "lines on stderr for $1: $(cat "$TMP/err")"
	assert_eq 0 "$(wc -c <"$TMP/out")" "bytes on stdout for $1"
	grep -qE "$2" "$TMP/err" || fail "$1: unexpected message: $(cat "$TMP/err")"
}

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
cat >>"$TMP/scepd.conf" <<CONF
csr: { auth = "none"; subject_alt_name = { request = ["dNSName"]; }; };
CONF
# The rows this test writes by hand are dated 2020 and 2023: scepd must not prune the
# rejected ones in the background while the test looks at them (t_prune tests pruning).
sed -i 's|^storage: {|storage: { keep_days = 0;|' "$TMP/scepd.conf"
grep -q "keep_days = 0" "$TMP/scepd.conf" || fail "keep_days did not go in"
start_scepd "$TMP/scepd.conf"

ctl --version
[[ $rc -eq 0 && "$(cat "$TMP/out")" =~ ^scepctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version"
ctl -h
assert_eq 0 "$rc" "-h"
grep -q "challenge new \[--owner NAME\] \[--ttl DURATION\]" "$TMP/out" || fail "-h: no challenge new"
grep -q "issued \[--serial HEX | --profile NAME\]" "$TMP/out" || fail "-h: no issued --profile"
for args in "" "frobnicate" "approve" "challenge" "challenge old" "pending extra" \
	"pending --serial 1" "issued --ttl 1h" "--bogus pending" "pending --profile scep" \
	"issued --serial 1 --profile scep" "approve X --profile scep"; do
	# shellcheck disable=SC2086 # split on purpose
	ctl -c "$TMP/scepd.conf" $args
	assert_eq 1 "$rc" "exit status of 'scepctl $args'"
	grep -q "^usage: scepctl" "$TMP/err" || fail "'scepctl $args': no usage"
done
pass "--version, -h, usage errors exit 1"

# An empty store: nothing to list.
ctl -c "$TMP/scepd.conf" pending
assert_eq 0 "$rc" "pending on an empty store"
assert_eq 0 "$(wc -c <"$TMP/out")" "output of pending on an empty store"
ctl -c "$TMP/scepd.conf" issued
assert_eq 0 "$rc" "issued on an empty store"
assert_eq 0 "$(wc -c <"$TMP/out")" "output of issued on an empty store"
pass "pending and issued on an empty store: nothing, exit 0"

# A certificate from /csr: `issued` lists it, `issued --serial` finds it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=host.example/O=Example" -addext "subjectAltName=DNS:host.example" \
	-out "$TMP/host.csr" 2>/dev/null
code=$(curl -s -o "$TMP/host.pem" -w '%{http_code}' --data-binary @"$TMP/host.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr"
serial=$(openssl x509 -in "$TMP/host.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
ctl -c "$TMP/scepd.conf" issued
assert_eq 0 "$rc" "issued"
assert_eq 1 "$(wc -l <"$TMP/out")" "lines of issued"
line=$(cat "$TMP/out")
assert_eq 14 "$(awk -F'\t' '{ print NF }' <<<"$line")" "fields of an issued line"
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
IFS=$'\t' read -r f_serial f_subject f_sans f_nb f_na f_req f_ep f_txid f_at f_profile f_ca \
	f_status f_reason f_revoked <<<"$line"
assert_eq "valid - -" "$f_status $f_reason $f_revoked" "status, reason, revocation date"
assert_eq "$serial" "$f_serial" "serial"
assert_eq "O=Example,CN=host.example" "$f_subject" "subject"
assert_eq "DNS:host.example" "$f_sans" "sans"
assert_eq "127.0.0.1 csr -" "$f_req $f_ep $f_txid" "requester, endpoint, transaction id"
assert_eq "$(sql "SELECT coalesce(profile, '-') || ' ' || coalesce(ca, '-') FROM certificates
	WHERE serial = '$serial'")" "$f_profile $f_ca" "profile and CA, as recorded"
for t in "$f_nb" "$f_na" "$f_at"; do
	[[ "$t" =~ ^$iso$ ]] || fail "not an ISO 8601 UTC time: '$t'"
done
na=$(openssl x509 -in "$TMP/host.pem" -noout -enddate | cut -d= -f2)
assert_eq "$(date -u -d "$na" +%Y-%m-%dT%H:%M:%SZ)" "$f_na" "notAfter"
lower=$(tr 'A-F' 'a-f' <<<"$serial")
for s in "$serial" "$lower" "000$serial" "00$lower"; do
	ctl -c "$TMP/scepd.conf" issued --serial "$s"
	assert_eq 0 "$rc" "issued --serial $s"
	assert_eq "$line" "$(cat "$TMP/out")" "issued --serial $s"
done
ctl -c "$TMP/scepd.conf" issued --serial "${serial}0"
assert_refused "issued --serial (unknown)" "^scepctl: no certificate with serial '${serial}0'$"
ctl -c "$TMP/scepd.conf" issued --serial "not-hex"
assert_refused "issued --serial not-hex" "^scepctl: no certificate with serial 'not-hex'$"
pass "issued lists the /csr certificate; --serial finds it in any case, with leading zeros"

# The profile and the CA each certificate was recorded with: --profile lists one profile's.
sql "INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, requester,
	endpoint, transaction_id, issued_at, profile, ca)
	VALUES ('ABCDEF01', 'CN=vpn.example', '', 1700000000, 1731536000, $(blob 3000),
		'192.0.2.5', 'csr', NULL, 1700000001, 'vpn', 'issuing-2')" >/dev/null
ctl -c "$TMP/scepd.conf" issued
assert_eq 0 "$rc" "issued with two certificates"
assert_eq "$line" "$(head -n 1 "$TMP/out")" "issued: the /csr certificate first, as before"
vpn_line='ABCDEF01	CN=vpn.example	-	2023-11-14T22:13:20Z	2024-11-13T22:13:20Z	192.0.2.5	csr	-	2023-11-14T22:13:21Z	vpn	issuing-2	expired	-	-'
assert_eq "$vpn_line" "$(tail -n +2 "$TMP/out")" "issued: the profile and CA at the end"
ctl -c "$TMP/scepd.conf" issued --profile vpn
assert_eq "0 $vpn_line" "$rc $(cat "$TMP/out")" "issued --profile vpn"
ctl -c "$TMP/scepd.conf" issued --serial abcdef01
assert_eq "0 $vpn_line" "$rc $(cat "$TMP/out")" "issued --serial of the vpn certificate"
for p in VPN vp nope; do
	ctl -c "$TMP/scepd.conf" issued --profile "$p"
	assert_eq "0 0" "$rc $(wc -c <"$TMP/out")" "issued --profile $p: nothing, exit 0"
done
ctl -c "$TMP/scepd.conf" issued --profile ""
assert_refused "issued --profile ''" "^scepctl: --profile: "
sql "DELETE FROM certificates WHERE serial = 'ABCDEF01'" >/dev/null
pass "issued: the profile and CA, then status, reason and revocation date; --profile lists that profile's certificates only" \
	"(exactly; none is no error)"

# challenge new: one line on stdout, the challenge alone; the database holds its hash only.
ctl -c "$TMP/scepd.conf" challenge new --owner alice --ttl 15m
assert_eq 0 "$rc" "challenge new"
assert_eq 0 "$(wc -c <"$TMP/err")" "bytes on stderr of challenge new"
assert_eq 1 "$(wc -l <"$TMP/out")" "lines of challenge new"
secret=$(cat "$TMP/out")
[[ "$secret" =~ ^[0-9a-f]{32}$ ]] || fail "challenge is not 32 hex digits: '$secret'"
hash=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
assert_eq "1|alice|900|1" \
	"$(sql "SELECT count(*), owner, expires_at - created_at,
		CASE WHEN used_at IS NULL THEN 1 ELSE 0 END FROM challenges
		WHERE secret_hash = '$hash' GROUP BY owner, expires_at, created_at, used_at")" \
	"the challenge's row (count, owner, ttl, unused)"
if [[ $SCEPD_TEST_STORE == sqlite ]]; then # the files themselves
	grep -q -s -a -F "$hash" "$db" "$db-wal" ||
		fail "the hash is not in the database files (so grep cannot see what they hold)"
	for f in "$db" "$db-wal"; do
		[[ -f "$f" ]] || continue
		! grep -q -a -F "$secret" "$f" || fail "the challenge itself is in $f"
		! grep -q -a -i -F "$(tr 'a-f' 'A-F' <<<"$secret")" "$f" || fail "the challenge is in $f"
	done
else
	assert_eq 0 "$(sql "SELECT count(*) FROM challenges WHERE lower(secret_hash) = '$secret'
		OR owner = '$secret' OR used_by = '$secret'")" "rows holding the challenge itself"
fi
ctl -c "$TMP/scepd.conf" challenge new
assert_eq 0 "$rc" "challenge new (defaults)"
secret2=$(cat "$TMP/out")
[[ "$secret2" =~ ^[0-9a-f]{32}$ && "$secret2" != "$secret" ]] || fail "second challenge: '$secret2'"
hash2=$(printf '%s' "$secret2" | sha256sum | cut -d' ' -f1)
assert_eq "|3600" "$(sql "SELECT owner, expires_at - created_at FROM challenges
	WHERE secret_hash = '$hash2'")" "default owner and ttl"
for ttl in 30s:30 45:45 1h:3600 7d:604800 365d:31536000; do
	ctl -c "$TMP/scepd.conf" challenge new --ttl "${ttl%%:*}"
	assert_eq 0 "$rc" "challenge new --ttl ${ttl%%:*}"
	h=$(printf '%s' "$(cat "$TMP/out")" | sha256sum | cut -d' ' -f1)
	assert_eq "${ttl##*:}" "$(sql "SELECT expires_at - created_at FROM challenges
		WHERE secret_hash = '$h'")" "ttl of --ttl ${ttl%%:*}"
done
for ttl in 0 0s 366d 1w 1.5h -1 h "" 1hh 99999999999999999999; do
	ctl -c "$TMP/scepd.conf" challenge new --ttl "$ttl"
	assert_refused "challenge new --ttl '$ttl'" "^scepctl: --ttl: "
done
ctl -c "$TMP/scepd.conf" challenge new --owner ""
assert_refused "challenge new --owner ''" "^scepctl: --owner: "
ctl -c "$TMP/scepd.conf" challenge new --owner $'a\tb'
assert_refused "challenge new --owner with a tab" "^scepctl: --owner: "
assert_eq 7 "$(sql "SELECT count(*) FROM challenges")" "challenges recorded"
pass "challenge new: 32 hex digits alone on stdout, only its SHA-256 stored, --owner, --ttl"

# Pending requests (SCEP will create them; the test writes two by hand).
sql "INSERT INTO pending_requests (transaction_id, subject, csr_der, requester, received_at,
	profile)
	VALUES ('7A1F0C', 'CN=dev2,O=Example', $(blob 3000), '192.0.2.9', 1700000100, 'mdm'),
	       ('B0B0', 'CN=dev1', $(blob 3000), NULL, 1700000000, NULL),
	       ('C1C1', 'CN=old', $(blob 3000), '192.0.2.1', 1600000000, 'scep')" >/dev/null
sql "UPDATE pending_requests SET status = 'rejected', decided_at = 1600000001
	WHERE transaction_id = 'C1C1'" >/dev/null
ctl -c "$TMP/scepd.conf" pending
assert_eq 0 "$rc" "pending"
assert_eq "B0B0	CN=dev1	2023-11-14T22:13:20Z	-	?	?	-
7A1F0C	CN=dev2,O=Example	2023-11-14T22:15:00Z	192.0.2.9	?	?	mdm" "$(cat "$TMP/out")" "pending"
pass "pending: oldest first, tab-separated, ISO 8601 UTC, '-' for none, decided ones left out," \
	"'?' for a CSR that cannot be read, the profile last"

# What the CSR asks for: every subjectAltName and the key, from the stored CSR itself.
der_hex() { # CSR-FILE (PEM): the request as DER, in hex
	openssl req -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'
}
hexstr() { # STRING: its bytes in hex
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/p1.key" \
	-subj "/CN=dev3" -addext "subjectAltName=DNS:a.example,DNS:b.example,IP:192.0.2.1" \
	-out "$TMP/p1.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/p2.key" -subj "/CN=dev4" \
	-out "$TMP/p2.csr" 2>/dev/null
# A dNSName made to forge a line and a second name: "evil.example\n7A1F0C\tCN=ok, DNS:x"
# and one with a NUL, which OpenSSL's own printing would cut short. Raw DER for the SAN.
evil=$(hexstr "evil.example")0a$(hexstr "7A1F0C")09$(hexstr "CN=ok, DNS:x")
nul=$(hexstr "good.example")00$(hexstr ".evil")
gn1=82$(printf '%02x' $((${#evil} / 2)))$evil
gn2=82$(printf '%02x' $((${#nul} / 2)))$nul
seq=30$(printf '%02x' $(((${#gn1} + ${#gn2}) / 2)))$gn1$gn2
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$TMP/p3.key" \
	-subj "/CN=dev5" -addext "subjectAltName=DER:$seq" -out "$TMP/p3.csr" 2>/dev/null ||
	fail "cannot make the CSR with a crafted subjectAltName"
sql "DELETE FROM pending_requests WHERE transaction_id IN ('P1', 'P2', 'P3')" >/dev/null
sql "INSERT INTO pending_requests (transaction_id, subject, csr_der, requester, received_at,
	profile)
	VALUES ('P1', 'CN=dev3', $(blob "$(der_hex "$TMP/p1.csr")"), NULL, 1700000200, 'scep'),
	       ('P2', 'CN=dev4', $(blob "$(der_hex "$TMP/p2.csr")"), NULL, 1700000300, 'scep'),
	       ('P3', 'CN=dev5', $(blob "$(der_hex "$TMP/p3.csr")"), NULL, 1700000400, 'scep')" \
	>/dev/null
ctl -c "$TMP/scepd.conf" pending
assert_eq 0 "$rc" "pending with real CSRs"
assert_eq 5 "$(wc -l <"$TMP/out")" "lines of pending: one per request, whatever the CSRs hold"
assert_eq "P1	CN=dev3	2023-11-14T22:16:40Z	-	DNS:a.example, DNS:b.example, IP Address:192.0.2.1	EC P-256	scep" \
	"$(grep '^P1	' "$TMP/out")" "pending: EC P-256 with two dNSNames and an address"
assert_eq "P2	CN=dev4	2023-11-14T22:18:20Z	-	-	RSA 2048	scep" \
	"$(grep '^P2	' "$TMP/out")" "pending: RSA 2048 without subjectAltName"
assert_eq 'P3	CN=dev5	2023-11-14T22:20:00Z	-	DNS:evil.example\x0A7A1F0C\x09CN=ok\x2C DNS:x, DNS:good.example\x00.evil	EC P-384	scep' \
	"$(grep '^P3	' "$TMP/out")" "pending: crafted dNSNames escaped"
assert_eq 7 "$(awk -F'\t' '{ print NF }' "$TMP/out" | sort -u)" "fields of every pending line"
sql "DELETE FROM pending_requests WHERE transaction_id IN ('P1', 'P2', 'P3')" >/dev/null
pass "pending: every subjectAltName and the key type and size from the CSR; a crafted" \
	"dNSName cannot add a line, a field or a name"

ctl -c "$TMP/scepd.conf" approve 7A1F0C
assert_eq 0 "$rc" "approve"
assert_eq 0 "$(cat "$TMP/out" "$TMP/err" | wc -c)" "output of approve"
assert_eq approved "$(sql "SELECT status FROM pending_requests WHERE transaction_id = '7A1F0C'")" \
	"status after approve"
(($(sql "SELECT decided_at FROM pending_requests WHERE transaction_id = '7A1F0C'") >= \
	$(date +%s) - 60)) || fail "decided_at not set by approve"
ctl -c "$TMP/scepd.conf" reject B0B0
assert_eq 0 "$rc" "reject"
assert_eq rejected "$(sql "SELECT status FROM pending_requests WHERE transaction_id = 'B0B0'")" \
	"status after reject"
ctl -c "$TMP/scepd.conf" pending
assert_eq 0 "$rc" "pending after the decisions"
assert_eq 0 "$(wc -c <"$TMP/out")" "pending after the decisions"

ctl -c "$TMP/scepd.conf" approve 7A1F0C
assert_refused "approve twice" "^scepctl: cannot approve '7A1F0C': the request is approved, not pending$"
ctl -c "$TMP/scepd.conf" reject 7A1F0C
assert_refused "reject an approved one" \
	"^scepctl: cannot reject '7A1F0C': the request is approved, not pending$"
ctl -c "$TMP/scepd.conf" approve B0B0
assert_refused "approve a rejected one" \
	"^scepctl: cannot approve 'B0B0': the request is rejected, not pending$"
ctl -c "$TMP/scepd.conf" approve DEADBEEF
assert_refused "approve unknown" \
	"^scepctl: cannot approve 'DEADBEEF': no request with this transaction id$"
ctl -c "$TMP/scepd.conf" reject DEADBEEF
assert_refused "reject unknown" \
	"^scepctl: cannot reject 'DEADBEEF': no request with this transaction id$"
assert_eq "7A1F0C approved B0B0 rejected C1C1 rejected" \
	"$(sql "SELECT transaction_id || ' ' || status FROM pending_requests
		ORDER BY transaction_id" | tr '\n' ' ' | sed 's/ $//')" "statuses at the end"
pass "approve and reject: exit 0 silently; unknown or not pending: exit 1, one line"

# scepd kept serving through all of it, and the store is sound.
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/host.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr after scepctl"
ctl -c "$TMP/scepd.conf" issued
assert_eq 2 "$(wc -l <"$TMP/out")" "issued after a second certificate"
assert_eq ok "$(store_integrity)" "integrity_check"
pass "scepd serves on; integrity_check ok"

# Configuration errors as scepd -t prints them; a store that is not there is not created.
cat >"$TMP/bad.conf" <<CONF
server: { wokers = 2; };
ca: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; };
CONF
ctl -c "$TMP/bad.conf" pending
assert_eq 1 "$rc" "pending with a broken config"
grep -qx "$TMP/bad.conf:1: server.wokers: unknown setting 'wokers', did you mean 'workers'?" \
	"$TMP/err" || fail "config error not reported: $(cat "$TMP/err")"
ctl -c "$TMP/missing.conf" pending
assert_eq 1 "$rc" "pending with a missing config"
grep -q "missing.conf" "$TMP/err" || fail "missing config not named: $(cat "$TMP/err")"
mkdir "$TMP/empty"
cat >"$TMP/elsewhere.conf" <<CONF
ca: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; };
storage: { uri = "sqlite:$TMP/empty/scepd.db"; };
CONF
ctl -c "$TMP/elsewhere.conf" pending
assert_refused "pending without a database" \
	"^$TMP/elsewhere.conf:2: storage.uri: cannot open the store: $TMP/empty/scepd.db: No such file or directory \\(scepd creates"
[[ ! -e "$TMP/empty/scepd.db" ]] || fail "scepctl created a database"
pass "config errors as FILE:LINE: setting: what; a missing database is reported, not created"

# db migrate: creates the schema as a starting worker would, and says which version.
ctl -c "$TMP/elsewhere.conf" db migrate
assert_eq 0 "$rc" "db migrate on a missing database"
assert_eq "schema version 5" "$(cat "$TMP/out")" "db migrate output"
assert_eq 5 "$(sqlite3 "$TMP/empty/scepd.db" "PRAGMA user_version")" "user_version after db migrate"
assert_eq 600 "$(stat -c %a "$TMP/empty/scepd.db")" "mode of the database db migrate made"
ctl -c "$TMP/elsewhere.conf" db migrate
assert_eq "0 schema version 5" "$rc $(cat "$TMP/out")" "db migrate again"
ctl -c "$TMP/elsewhere.conf" db upgrade
assert_eq 1 "$rc" "db with an unknown subcommand"
pass "db migrate: creates or upgrades the schema, prints its version"
