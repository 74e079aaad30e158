#!/usr/bin/env bash
# scepctl mobileconfig: the Apple configuration profile it writes, read back as a device
# would. Python's plistlib parses it (every key Apple documents present, with Apple's
# type), CAFingerprint is the SHA-1 of the CA certificate and the root payload holds
# its DER; a signed profile verifies with openssl cms and a tampered one does not. Then
# the project's SCEP client enrols as Apple does (transaction ID = SHA-1 of the key,
# base64 GET with raw + / =) with exactly the URL, challenge, key size, subject and
# names read from the profile: SUCCESS, a certificate of the CA with that subject and
# SAN; the one-time challenge refused the second time; a subject-bound challenge
# refused for another subject. Requests the profile's policy would refuse or cut short
# are refused by scepctl before a challenge is minted.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"
SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}

PORT=$(free_port)
make_scep_ca "$TMP"
write_config "$TMP/scepd.conf"
cat >>"$TMP/scepd.conf" <<CONF
scep: {
	challenge = { mode = "otp"; };
	subject = { request = [ "CN", "O" ]; };
	subject_alt_name = { request = [ "dNSName" ]; };
	refusals_per_minute = 0;
};
CONF
start_scepd "$TMP/scepd.conf"

challenges() {
	store_sql "SELECT count(*) FROM challenges"
}

# mobileconfig OUT [options]: scepctl mobileconfig into $TMP/OUT, its stderr in $TMP/OUT.err.
mobileconfig() {
	local out=$1
	shift
	"$SCEPCTL_BIN" -c "$TMP/scepd.conf" mobileconfig "$@" >"$TMP/$out" 2>"$TMP/$out.err"
}

# The profile as a device reads it: every key checked, then what the SCEP client needs,
# one "name=value" a line (the challenge saved as a secret for secrets_check).
read_profile() { # FILE
	python3 - "$1" "$TMP/ca.pem" <<'PY'
import base64, hashlib, plistlib, re, ssl, sys

with open(sys.argv[1], "rb") as f:
    top = plistlib.load(f)
ca_der = ssl.PEM_cert_to_DER_cert(open(sys.argv[2]).read())
uuid = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")

def need(d, key, typ, where):
    if key not in d:
        sys.exit(f"{where}: no {key}")
    if type(d[key]) is not typ:
        sys.exit(f"{where}: {key} is {type(d[key]).__name__}, not {typ.__name__}")
    return d[key]

def payload(d, where):
    for key in ("PayloadType", "PayloadIdentifier", "PayloadUUID", "PayloadDisplayName"):
        need(d, key, str, where)
    if need(d, "PayloadVersion", int, where) != 1:
        sys.exit(f"{where}: PayloadVersion is not 1")
    if not uuid.match(d["PayloadUUID"]):
        sys.exit(f"{where}: PayloadUUID {d['PayloadUUID']} is not an upper-case v4 UUID")

payload(top, "profile")
if top["PayloadType"] != "Configuration":
    sys.exit("profile: PayloadType is not Configuration")
content = need(top, "PayloadContent", list, "profile")
by_type = {p["PayloadType"]: p for p in content}
if sorted(by_type) != ["com.apple.security.root", "com.apple.security.scep"]:
    sys.exit(f"profile: payloads {sorted(by_type)}")
for p in content:
    payload(p, p["PayloadType"])
uuids = [top["PayloadUUID"]] + [p["PayloadUUID"] for p in content]
ids = [top["PayloadIdentifier"]] + [p["PayloadIdentifier"] for p in content]
if len(set(uuids)) != 3 or len(set(ids)) != 3:
    sys.exit("profile: PayloadUUIDs or PayloadIdentifiers repeat")

root = by_type["com.apple.security.root"]
if need(root, "PayloadContent", bytes, "root") != ca_der:
    sys.exit("root: PayloadContent is not the CA certificate's DER")

scep = need(by_type["com.apple.security.scep"], "PayloadContent", dict, "scep")
url = need(scep, "URL", str, "scep")
need(scep, "Name", str, "scep")
challenge = need(scep, "Challenge", str, "scep")
keysize = need(scep, "Keysize", int, "scep")
if need(scep, "Key Type", str, "scep") != "RSA":
    sys.exit("scep: Key Type is not RSA")
if need(scep, "Key Usage", int, "scep") != 5:
    sys.exit("scep: Key Usage is not 5")
if need(scep, "Retries", int, "scep") != 3 or need(scep, "RetryDelay", int, "scep") != 10:
    sys.exit("scep: Retries/RetryDelay")
if need(scep, "CAFingerprint", bytes, "scep") != hashlib.sha1(ca_der).digest():
    sys.exit("scep: CAFingerprint is not the SHA-1 of the CA certificate")
subject = need(scep, "Subject", list, "scep")
fields = []
for rdn in subject:
    if type(rdn) is not list or not rdn:
        sys.exit("scep: Subject: an RDN is not a non-empty array")
    for pair in rdn:
        if type(pair) is not list or len(pair) != 2 or not all(type(x) is str for x in pair):
            sys.exit("scep: Subject: a pair is not [string, string]")
        fields.append(f"{pair[0]}={pair[1]}")
sans = need(scep, "SubjectAltName", dict, "scep")
dns = need(sans, "dNSName", list, "scep.SubjectAltName")
if not all(type(x) is str for x in dns):
    sys.exit("scep: SubjectAltName.dNSName holds a non-string")
print(f"url={url}")
print(f"challenge={challenge}")
print(f"keysize={keysize}")
print("subject=/" + "/".join(fields))
print("san=" + ",".join("DNS:" + x for x in dns))
PY
}

profile_value() { # FILE NAME
	sed -n "s/^$2=//p" "$1"
}

# --- the profile, parsed as a device does ---
before=$(challenges)
mobileconfig device.mobileconfig --challenge new --subject "/CN=device 1/O=Example" \
	--san dns:device1.example --keysize 2048 || fail "mobileconfig: $(cat "$TMP/device.mobileconfig.err")"
assert_eq $((before + 1)) "$(challenges)" "challenges after mobileconfig --challenge new"
read_profile "$TMP/device.mobileconfig" >"$TMP/device.values" || fail "the profile: see above"
url=$(profile_value "$TMP/device.values" url)
challenge=$(profile_value "$TMP/device.values" challenge)
keysize=$(profile_value "$TMP/device.values" keysize)
subject=$(profile_value "$TMP/device.values" subject)
san=$(profile_value "$TMP/device.values" san)
echo "$challenge" >"$TMP/challenge-device"
assert_eq "http://127.0.0.1:$PORT/scep" "$url" "URL derived from server.listen and scep.path"
assert_eq 2048 "$keysize" "Keysize"
assert_eq "/CN=device 1/O=Example" "$subject" "Subject"
assert_eq "DNS:device1.example" "$san" "SubjectAltName"
[[ $challenge =~ ^[0-9a-f]{32}$ ]] || fail "the challenge is not 32 hex digits"
assert_eq "O=Example,CN=device 1" \
	"$(store_sql "SELECT subject FROM challenges ORDER BY created_at DESC, id DESC LIMIT 1")" \
	"the challenge is bound to the subject"
grep -q "warning: the URL http://127.0.0.1:$PORT/scep is on loopback" \
	"$TMP/device.mobileconfig.err" || fail "no warning about a loopback URL"
mobileconfig again.mobileconfig --challenge new --subject "/CN=device 1/O=Example" \
	--san dns:device1.example || fail "mobileconfig again"
read_profile "$TMP/again.mobileconfig" >"$TMP/again.values" || fail "the second profile"
echo "$(profile_value "$TMP/again.values" challenge)" >"$TMP/challenge-again"
[[ $(profile_value "$TMP/again.values" challenge) != "$challenge" ]] || fail "the same challenge twice"
python3 - "$TMP/device.mobileconfig" "$TMP/again.mobileconfig" <<'PY' || fail "UUIDs repeat across profiles"
import plistlib, sys
a, b = (plistlib.load(open(f, "rb")) for f in sys.argv[1:])
ua = {a["PayloadUUID"]} | {p["PayloadUUID"] for p in a["PayloadContent"]}
ub = {b["PayloadUUID"]} | {p["PayloadUUID"] for p in b["PayloadContent"]}
sys.exit(1 if ua & ub else 0)
PY
pass "the profile: every key with Apple's type, CAFingerprint = SHA-1 of the CA, root = its DER, fresh UUIDs"

# --- signed as security cms -S signs it ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/signer.key" -out "$TMP/signer.pem" \
	-subj "/CN=profile signer" -days 30 2>/dev/null
mobileconfig signed.mobileconfig --challenge fixed-secret --subject "/CN=device 3/O=Example" \
	--url "http://ca.example.org/scep" --sign-cert "$TMP/signer.pem" --sign-key "$TMP/signer.key" ||
	fail "signed mobileconfig: $(cat "$TMP/signed.mobileconfig.err")"
openssl cms -verify -inform DER -CAfile "$TMP/signer.pem" -in "$TMP/signed.mobileconfig" \
	-out "$TMP/signed.xml" 2>"$TMP/verify.err" || fail "openssl cms -verify: $(cat "$TMP/verify.err")"
grep -q "Verification successful" "$TMP/verify.err" || fail "openssl cms -verify said $(cat "$TMP/verify.err")"
python3 - "$TMP/signed.xml" <<'PY' || fail "the signed content is not the profile"
import plistlib, sys
top = plistlib.load(open(sys.argv[1], "rb"))
scep = [p for p in top["PayloadContent"] if p["PayloadType"] == "com.apple.security.scep"][0]
assert scep["PayloadContent"]["URL"] == "http://ca.example.org/scep"
assert scep["PayloadContent"]["Challenge"] == "fixed-secret"
assert top["PayloadIdentifier"] == "org.example.ca.scepd.scep"
PY
openssl cms -cmsout -print -inform DER -in "$TMP/signed.mobileconfig" >"$TMP/signed.txt"
grep -q "CN=profile signer" "$TMP/signed.txt" || fail "the signer's certificate is not in the SignedData"
# The attacker changes the URL inside the signed content: the signature no longer holds.
python3 - "$TMP/signed.mobileconfig" "$TMP/tampered.mobileconfig" <<'PY'
import sys
der = open(sys.argv[1], "rb").read()
i = der.index(b"ca.example.org")
open(sys.argv[2], "wb").write(der[:i] + b"ev.example.org" + der[i + 14:])
PY
! openssl cms -verify -inform DER -CAfile "$TMP/signer.pem" -in "$TMP/tampered.mobileconfig" \
	-out /dev/null 2>/dev/null || fail "a tampered profile verifies"
# And a signature by someone else does not verify against the signer's certificate.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.key" -out "$TMP/other.pem" \
	-subj "/CN=profile signer" -days 30 2>/dev/null
mobileconfig other.mobileconfig --challenge fixed-secret --subject "/CN=device 3/O=Example" \
	--url "http://ca.example.org/scep" --sign-cert "$TMP/other.pem" --sign-key "$TMP/other.key" ||
	fail "mobileconfig signed by other"
! openssl cms -verify -inform DER -CAfile "$TMP/signer.pem" -in "$TMP/other.mobileconfig" \
	-out /dev/null 2>/dev/null || fail "a profile signed by another key verifies"
pass "signed: openssl cms -verify prints the profile; tampered or foreign signature refused"

# --- enrolment as an Apple device, with what the profile says ---
curl -sf -o "$TMP/ca.bin" "$url?operation=GetCACert" || fail "GetCACert at the profile's URL"
# enrol NAME SUBJECT SAN CHALLENGE: a new RSA key of the profile's size, PKCSReq by GET
# with raw base64 and the default transaction ID, as Apple sends it. VERDICT.
enrol() {
	local name=$1 code
	"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/$name.st" --out "$TMP/$name.msg" \
		--format b64-raw --key "$TMP/$name.key" --key-type "rsa$keysize" --subject "$2" \
		--san "$3" --challenge "$4" 2>"$TMP/$name.err" ||
		fail "$name: scep_client request: $(cat "$TMP/$name.err")"
	code=$(curl -s -o "$TMP/$name.rep" -w '%{http_code}' \
		"$url?operation=PKIOperation&message=$(cat "$TMP/$name.msg")")
	[[ $code == 200 ]] || { VERDICT="HTTP $code"; return 0; }
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>"$TMP/$name.why") || true
}

enrol device "$subject" "$san" "$challenge"
assert_eq SUCCESS "$VERDICT" "enrolment with the profile's values"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/device.pem" >/dev/null || fail "the certificate does not verify"
assert_eq "subject=CN = device 1, O = Example" "$(openssl x509 -in "$TMP/device.pem" -noout -subject)" \
	"the certificate's subject"
openssl x509 -in "$TMP/device.pem" -noout -ext subjectAltName | grep -q "DNS:device1.example" ||
	fail "the certificate has no DNS:device1.example"
assert_eq "Public-Key: (2048 bit)" \
	"$(openssl x509 -in "$TMP/device.pem" -noout -text | grep -o 'Public-Key: ([0-9]* bit)')" \
	"the certified key size"
pass "enrolled as Apple with the profile's URL, challenge, key size, subject and SAN"

enrol replay "$subject" "$san" "$challenge"
assert_eq "FAILURE badRequest" "$VERDICT" "the same challenge a second time"
wait_log "the challenge password was used already" 5 || fail "the log does not say the challenge was used"
pass "the one-time challenge is refused the second time"

# The attacker has device 2's profile and asks for another subject with its challenge.
mobileconfig device2.mobileconfig --challenge new --subject "/CN=device 2/O=Example" \
	--san dns:device2.example || fail "mobileconfig device 2"
read_profile "$TMP/device2.mobileconfig" >"$TMP/device2.values" || fail "the profile of device 2"
challenge2=$(profile_value "$TMP/device2.values" challenge)
echo "$challenge2" >"$TMP/challenge-device2"
enrol intruder "/CN=intruder/O=Example" "DNS:device2.example" "$challenge2"
assert_eq "FAILURE badRequest" "$VERDICT" "a subject-bound challenge for another subject"
wait_log "the challenge password is for another subject" 5 ||
	fail "the log does not say the challenge is for another subject"
enrol device2 "$(profile_value "$TMP/device2.values" subject)" \
	"$(profile_value "$TMP/device2.values" san)" "$challenge2"
assert_eq SUCCESS "$VERDICT" "device 2 with its own profile after the attempt"
pass "a subject-bound challenge is refused for another subject, and still serves its own"

# --- what scepctl refuses, leaving no challenge behind ---
before=$(challenges)
refused() { # WHAT TEXT [options]: mobileconfig fails and says TEXT
	local what=$1 text=$2
	shift 2
	! mobileconfig refused.mobileconfig "$@" || fail "$what: accepted"
	grep -qF -- "$text" "$TMP/refused.mobileconfig.err" ||
		fail "$what: stderr says $(cat "$TMP/refused.mobileconfig.err")"
	[[ ! -s "$TMP/refused.mobileconfig" ]] || fail "$what: something written on stdout"
}
refused "keysize 1024" "below the profile's keys.rsa_min_bits (2048)" \
	--challenge new --subject /CN=x --keysize 1024
refused "keysize 3072" "--keysize: 1024, 2048 or 4096" --challenge new --subject /CN=x --keysize 3072
refused "an OU the policy drops" "drops the subject's OU" --challenge new --subject "/CN=x/OU=Lab"
refused "an email the policy drops" "drops the subjectAltName rfc822Name" \
	--challenge new --subject /CN=x --san email:x@example.org
refused "no subject, no SAN" "the profile's policy refuses the request" --challenge new
refused "a bad SAN type" "--san: 'ip:192.0.2.1' is not" --challenge new --subject /CN=x --san ip:192.0.2.1
refused "a bad subject" "--subject: 'CN=x' is not" --challenge new --subject CN=x
refused "an unknown profile" "is not a SCEP profile" --profile nope --challenge new --subject /CN=x
refused "a lone --sign-key" "go together" --subject /CN=x --sign-key "$TMP/signer.key"
refused "a foreign key" "does not belong" --subject /CN=x --url http://ca.example.org/scep \
	--sign-cert "$TMP/signer.pem" --sign-key "$TMP/other.key"
assert_eq "$before" "$(challenges)" "challenges after the refusals"
# Without --challenge an OTP profile's device asks its user: a warning, not a refusal.
mobileconfig nochallenge.mobileconfig --subject /CN=x || fail "mobileconfig without --challenge"
grep -q "warning: no --challenge" "$TMP/nochallenge.mobileconfig.err" || fail "no warning without --challenge"
! grep -q "<key>Challenge</key>" "$TMP/nochallenge.mobileconfig" || fail "a Challenge without --challenge"
# A wildcard listener names no address: --url is required.
sed "s|listen = \[\"127.0.0.1:$PORT\"\];|listen = [\"*:$PORT\"];|" "$TMP/scepd.conf" >"$TMP/wild.conf"
! "$SCEPCTL_BIN" -c "$TMP/wild.conf" mobileconfig --subject /CN=x >/dev/null 2>"$TMP/wild.err" ||
	fail "a profile with a wildcard listener and no --url"
grep -q "give the SCEP URL with --url" "$TMP/wild.err" || fail "wildcard: $(cat "$TMP/wild.err")"
"$SCEPCTL_BIN" -c "$TMP/wild.conf" mobileconfig --subject /CN=x --url https://ca.example.org/scep \
	>/dev/null 2>&1 || fail "a wildcard listener with --url"
pass "refused: small or odd key sizes, fields and names the policy drops, bad input; no challenge minted"

# The challenges went to stdout only: never into scepd's log.
for c in "$challenge" "$challenge2"; do
	! grep -qF "$c" "$TMP/scepd.log" || fail "a challenge in scepd's log"
done
pass "mobileconfig"
