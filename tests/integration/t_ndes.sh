#!/usr/bin/env bash
# The NDES-compatible challenge page (scep.challenge.ndes) as MDM servers built for
# Microsoft NDES use it: two users (an htpasswd -B bcrypt hash, an openssl passwd -6
# SHA-512 hash) each get a page in UTF-16LE with a BOM, from which Fleet's and
# Zentral's expressions (each after its own decoding) and grep -P after iconv read the
# same 16-digit challenge; the challenge enrols once, through its own profile only, and
# the certificate's record names the user. Refusals: no credentials, a wrong
# password, an unknown user, garbage, another scheme (401 with a Basic challenge, the
# worker serving on), POST (405), plain HTTP from a client that is not loopback
# (127.0.0.2: 403) until allow_plain_http. scepd -t refuses an MD5 hash in the users
# file (and a worker will not start with it) and an NDES page of a "static" profile; a
# reload with an Apache MD5 hash leaves the running generation serving.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"
for tool in htpasswd iconv xxd python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed (apache2-utils, libc-bin, xxd, python3)"
done

make_scep_ca "$TMP"
PORT=$(free_port)
base=http://127.0.0.1:$PORT
page_path=/certsrv/mscep_admin/
store_prepare

# The Basic-auth passwords, in a file secrets_check.sh reads (challenge*): no log or
# store may hold them. A ':' and spaces in one: Basic splits at the first ':' only.
fleet_pass='fleet: pass 1'
zentral_pass=zentral-pass-2
printf '%s\n%s\n' "$fleet_pass" "$zentral_pass" >"$TMP/challenge-basic-passwords"
{
	echo "# MDM accounts of the NDES page"
	htpasswd -nbB fleet "$fleet_pass" | grep .
	echo
	echo "zentral:$(openssl passwd -6 "$zentral_pass")"
} >"$TMP/ndes-users"
grep -q '^fleet:[$]2y[$]' "$TMP/ndes-users" || fail "htpasswd -B did not write bcrypt: $(cat "$TMP/ndes-users")"

# ndes_config [NDES-EXTRA] [DEVICES-MODE]: profile devices with the page, profile
# others (otp too) without; listening on 127.0.0.2 as well.
ndes_config() {
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT", "127.0.0.2:$PORT"]; workers = 2; };
cas: { main: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; }; };
profiles: {
	devices: {
		type = "scep"; path = "/scep/devices"; refusals_per_minute = 0;
		challenge = {
			mode = "${2:-otp}";
			${3:-}
			ndes = { path = "$page_path"; users = "file:$TMP/ndes-users"; ${1:-} };
		};
	};
	others: {
		type = "scep"; path = "/scep/others"; refusals_per_minute = 0;
		challenge = { mode = "otp"; };
	};
};
$(store_config_line)
log: { level = "debug"; };
CONF
}

# scepd -t: an MD5 hash in the users file, an NDES page of a "static" profile.
cp "$TMP/ndes-users" "$TMP/ndes-users.good"
echo "mdm:$(openssl passwd -1 weak-pass)" >>"$TMP/ndes-users"
ndes_config
! "$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t accepts a \$1\$ hash"
grep -qF "scepd.conf:9: profiles.devices.challenge.ndes.users: $TMP/ndes-users:5: mdm: an MD5 crypt hash (\$1\$) is too weak; use yescrypt" \
	"$TMP/check.out" || fail "scepd -t on a \$1\$ hash: $(cat "$TMP/check.out")"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -f >"$TMP/weak.log" 2>&1 &
weak_pid=$!
BACKGROUND_PIDS+=("$weak_pid")
wait_exit "$weak_pid" 20 || fail "scepd with a \$1\$ hash in the users file is still running"
[[ $EXIT_STATUS -ne 0 ]] || fail "scepd with a \$1\$ hash in the users file exited 0"
grep -q "profiles.devices.challenge.ndes.users: $TMP/ndes-users:5: mdm: an MD5 crypt hash" "$TMP/weak.log" ||
	fail "the worker's log on a \$1\$ hash: $(tail -5 "$TMP/weak.log")"
cp "$TMP/ndes-users.good" "$TMP/ndes-users"
printf 'x' >"$TMP/static.secret"
ndes_config "" static "secret = \"file:$TMP/static.secret\";"
! "$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t accepts ndes with mode static"
grep -q "profiles.devices.challenge.ndes: only with scep.challenge.mode = \"otp\"" "$TMP/check.out" ||
	fail "scepd -t on ndes with mode static: $(cat "$TMP/check.out")"
ndes_config
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
pass "scepd -t refuses a \$1\$ hash (FILE:LINE) and ndes with mode static; a worker does not start with the \$1\$ hash"

start_scepd "$TMP/scepd.conf"

challenges() {
	store_sql "SELECT count(*) FROM challenges"
}

# fetch NAME USER PASSWORD: the page in $TMP/NAME.page, its headers in $TMP/NAME.h;
# prints the HTTP status.
fetch() {
	curl -s -D "$TMP/$1.h" -o "$TMP/$1.page" -w '%{http_code}' -u "$2:$3" "$base$page_path"
}

# The challenge as Fleet reads it: UTF-16 honouring a BOM, big-endian without one
# (unicode.BOMOverride over UTF16(BigEndian, IgnoreBOM)), then its expression.
fleet_read() {
	python3 - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
if data[:2] == b"\xff\xfe":
    text = data[2:].decode("utf-16-le")
elif data[:2] == b"\xfe\xff":
    text = data[2:].decode("utf-16-be")
else:
    text = data.decode("utf-16-be")
m = re.search(r"(?i)The enrollment challenge password is: <B> (?P<password>\S*)", text)
print(m.group("password") if m else "")
PY
}

# Zentral's: bytes.decode("utf-16"), then the first match of its expression.
zentral_read() {
	python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-16")
for m in re.finditer(r"challenge password is: <B> ([A-Z0-9]{16,32}) </B>", text):
    print(m.group(1))
    break
PY
}

# A page for each user: headers, BOM, the same challenge by every reading.
before=$(challenges)
for who in fleet zentral; do
	pass_var=${who}_pass
	assert_eq 200 "$(fetch "$who" "$who" "${!pass_var}")" "$who: the page"
	grep -qix $'Content-Type: text/html; charset=utf-16\r' "$TMP/$who.h" ||
		fail "$who: Content-Type: $(cat "$TMP/$who.h")"
	grep -qix $'Cache-Control: no-store\r' "$TMP/$who.h" || fail "$who: no Cache-Control: no-store"
	assert_eq fffe "$(xxd -p -l 2 "$TMP/$who.page")" "$who: the byte order mark"
	iconv -f UTF-16LE -t UTF-8 "$TMP/$who.page" >"$TMP/$who.html" || fail "$who: not UTF-16LE"
	grep -q "This password can be used only once and will expire within 60 minutes." "$TMP/$who.html" ||
		fail "$who: $(cat "$TMP/$who.html")"
	by_grep=$(grep -oP '(?i)The enrollment challenge password is: <B> \K\S*' "$TMP/$who.html")
	by_fleet=$(fleet_read "$TMP/$who.page")
	by_zentral=$(zentral_read "$TMP/$who.page")
	[[ $by_grep =~ ^[0-9A-F]{16}$ ]] || fail "$who: the challenge '$by_grep' is not 16 upper-case hex digits"
	assert_eq "$by_grep" "$by_fleet" "$who: Fleet's reading"
	assert_eq "$by_grep" "$by_zentral" "$who: Zentral's reading"
	echo "$by_grep" >"$TMP/challenge-$who"
done
fleet_otp=$(cat "$TMP/challenge-fleet")
zentral_otp=$(cat "$TMP/challenge-zentral")
[[ $fleet_otp != "$zentral_otp" ]] || fail "the two pages gave the same challenge"
assert_eq $((before + 2)) "$(challenges)" "challenges recorded for two pages"
assert_eq "fleet|3600" "$(store_sql "SELECT owner, expires_at - created_at FROM challenges
	WHERE owner = 'fleet'")" "the fleet challenge's owner and lifetime"
grep -q "audit: result=challenge endpoint=ndes profile=devices client=127.0.0.1 user=fleet" "$TMP/scepd.log" ||
	fail "no audit record of the fleet page"
grep -q "audit: result=challenge endpoint=ndes profile=devices client=127.0.0.1 user=zentral" "$TMP/scepd.log" ||
	fail "no audit record of the zentral page"
pass "bcrypt and SHA-512 users each get a UTF-16LE page with a BOM; Fleet's, Zentral's and grep's readings agree"

# Enrolment with the page's challenges: once, through their own profile, owned by the user.
n=0
# scep NAME PROFILE [request options...]: one PKIOperation; VERDICT, $TMP/NAME.pem.
scep() {
	local name=$1 profile=$2
	shift 2
	n=$((n + 1))
	curl -sf -o "$TMP/$profile.ca" "$base/scep/$profile?operation=GetCACert" ||
		fail "$name: GetCACert of $profile"
	scep_pkioperation "$name" "$base/scep/$profile" "$TMP/$profile.ca" --txid "t$n-$name" "$@"
}
owner_of() { # PEM
	store_sql "SELECT owner FROM certificates WHERE serial =
		'$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//')'"
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null
scep dev1 devices --key "$TMP/dev.key" --subject /CN=dev1 --challenge "$fleet_otp"
assert_eq SUCCESS "$VERDICT" "enrolment with the fleet page's challenge"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/dev1.pem" >/dev/null || fail "dev1 does not verify"
assert_eq fleet "$(owner_of "$TMP/dev1.pem")" "the owner of dev1's record"
scep dev1-again devices --key "$TMP/dev.key" --subject /CN=dev1-again --challenge "$fleet_otp"
[[ $VERDICT == FAILURE* ]] || fail "the fleet challenge a second time: $VERDICT"
scep dev2-others others --key "$TMP/dev.key" --subject /CN=dev2 --challenge "$zentral_otp"
[[ $VERDICT == FAILURE* ]] || fail "a devices challenge at profile others: $VERDICT"
scep dev2 devices --key "$TMP/dev.key" --subject /CN=dev2 --challenge "$zentral_otp"
assert_eq SUCCESS "$VERDICT" "the zentral challenge at devices, after others refused it"
assert_eq zentral "$(owner_of "$TMP/dev2.pem")" "the owner of dev2's record"
pass "a page's challenge enrols once, only through its profile; the record's owner is the Basic-auth user"

# Refusals: 401 with a Basic challenge, one line, the user logged without the password.
status_of() { # curl arguments: the status
	curl -s -D "$TMP/refused.h" -o "$TMP/refused.body" -w '%{http_code}' "$@" "$base$page_path"
}
assert_401() { # WHAT
	grep -qix $'WWW-Authenticate: Basic realm="scepd NDES"\r' "$TMP/refused.h" ||
		fail "$1: no Basic challenge: $(cat "$TMP/refused.h")"
	assert_eq "a valid user and password (HTTP Basic) are required" "$(cat "$TMP/refused.body")" "$1: the body"
}
before=$(challenges)
assert_eq 401 "$(status_of)" "no Authorization header"
assert_401 "no Authorization header"
assert_eq 401 "$(status_of -u "fleet:$zentral_pass")" "fleet with zentral's password"
assert_401 "a wrong password"
assert_eq 401 "$(status_of -u "mallory:$fleet_pass")" "an unknown user"
assert_401 "an unknown user"
assert_eq 401 "$(status_of -H 'Authorization: Basic !!!not-base64')" "garbage base64"
assert_401 "garbage base64"
assert_eq 401 "$(status_of -H "Authorization: Basic $(printf 'nocolon' | base64)")" "no ':'"
assert_eq 401 "$(status_of -H 'Authorization: Bearer abc')" "a bearer token"
assert_401 "a bearer token"
assert_eq 405 "$(status_of -u "fleet:$fleet_pass" -X POST --data x)" "POST"
assert_eq "$before" "$(challenges)" "challenges recorded by refused requests"
assert_eq 200 "$(status_of -u "fleet:$fleet_pass" -I)" "HEAD"
assert_eq "$before" "$(challenges)" "challenges recorded by a HEAD"
grep -q "$page_path from 127.0.0.1: user 'fleet': unknown user or wrong password" "$TMP/scepd.log" ||
	fail "the log of a wrong password does not name the user"
grep -q "$page_path from 127.0.0.1: user 'mallory': unknown user or wrong password" "$TMP/scepd.log" ||
	fail "the log of an unknown user does not name it"
grep -q "$page_path from 127.0.0.1: malformed Basic credentials" "$TMP/scepd.log" ||
	fail "the log of garbage credentials"
! grep -qF -e "$fleet_pass" -e "$zentral_pass" -e "$fleet_otp" -e "$zentral_otp" "$TMP/scepd.log" ||
	fail "a password or a challenge in the log"
assert_eq 200 "$(fetch after fleet "$fleet_pass")" "a page after the refusals"
curl -sf "$base/healthz" >/dev/null || fail "/healthz after the refusals"
pass "no credentials, wrong password, unknown user, garbage, bearer: 401 + Basic challenge, logged by user; POST 405; HEAD mints nothing"

# Plain HTTP from a client that is not loopback: 403 until allow_plain_http.
curl -s --interface 127.0.0.2 -o /dev/null "http://127.0.0.2:$PORT/healthz" ||
	skip "cannot connect from 127.0.0.2"
before=$(challenges)
code=$(curl -s --interface 127.0.0.2 -o "$TMP/plain.body" -w '%{http_code}' -u "fleet:$fleet_pass" \
	"http://127.0.0.2:$PORT$page_path")
assert_eq 403 "$code" "plain HTTP from 127.0.0.2"
assert_eq "use the TLS listener (server.tls) for the NDES page" "$(cat "$TMP/plain.body")" "the 403 body"
assert_eq "$before" "$(challenges)" "challenges recorded for the 403"
grep -q "$page_path from 127.0.0.2: refused over plain HTTP" "$TMP/scepd.log" || fail "no log of the 403"
ndes_config "allow_plain_http = true;"
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 10 || fail "no generation 2 after the reload"
code=$(curl -s --interface 127.0.0.2 -o "$TMP/plain.page" -w '%{http_code}' -u "fleet:$fleet_pass" \
	"http://127.0.0.2:$PORT$page_path")
assert_eq 200 "$code" "plain HTTP from 127.0.0.2 with allow_plain_http"
fleet_read "$TMP/plain.page" >"$TMP/challenge-plain"
[[ $(cat "$TMP/challenge-plain") =~ ^[0-9A-F]{16}$ ]] || fail "the page over plain HTTP: no challenge"
grep -q "audit: result=challenge endpoint=ndes profile=devices client=127.0.0.2 user=fleet" "$TMP/scepd.log" ||
	fail "no audit record for 127.0.0.2"
pass "plain HTTP from 127.0.0.2: 403 (nothing minted); with allow_plain_http after a reload: the page"

# A reload with a weak hash in the users file: the new generation does not start, the
# running one keeps serving the page.
echo "old:$(openssl passwd -apr1 old-pass)" >>"$TMP/ndes-users"
kill -HUP "$SCEPD_PID"
for _ in $(seq 1 100); do
	grep -q "generation 3 could not start: generation 2 keeps serving" "$TMP/scepd.log" && break
	sleep 0.1
done
grep -q "generation 3 could not start: generation 2 keeps serving" "$TMP/scepd.log" ||
	fail "a reload with a \$apr1\$ hash: $(tail -5 "$TMP/scepd.log")"
grep -qF "profiles.devices.challenge.ndes.users: $TMP/ndes-users:5: old: an Apache MD5 hash (\$apr1\$) is too weak" \
	"$TMP/scepd.log" || fail "no log line naming the \$apr1\$ line"
assert_eq 200 "$(fetch kept fleet "$fleet_pass")" "the page after the refused reload"
pass "a reload with an \$apr1\$ hash: logged with its line, the running generation keeps serving"
