#!/usr/bin/env bash
# Several CAs and endpoints in one daemon (cas + profiles): an RSA-2048 CA on a SoftHSM
# token and a P-256 CA in a file; three SCEP profiles (one of the EC CA with an RSA RA)
# and two csr profiles. Each profile's certificates carry its issuer, extensions and
# validity and are recorded with their profile and CA; key policy refusals; renewal
# rules (outside the window, another subject, a signer of another profile: refused;
# inside: issued); paths below a SCEP profile; real clients at profile paths; `scepd -t`
# naming a CA whose key does not match; reload adding a profile under load, and a
# broken reload that keeps the profiles serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

make_token scepd-test
make_token_ca rsa-ca rsa:2048
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ec-ca.key" \
	-out "$TMP/ec-ca.pem" -subj "/CN=ec-ca" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
# SCEP needs an RSA key to decrypt and sign CertReps: the EC CA's profile has an RSA RA.
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ra.key" -subj "/CN=ec-ca RA" \
	-out "$TMP/ra.csr" 2>/dev/null
openssl x509 -req -in "$TMP/ra.csr" -CA "$TMP/ec-ca.pem" -CAkey "$TMP/ec-ca.key" -set_serial 7 \
	-days 30 -out "$TMP/ra.pem" \
	-extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
printf 'tablets-secret' >"$TMP/tablets.secret"

PORT=$(free_port)
base=http://127.0.0.1:$PORT
store_prepare

# profiles_config [EXTRA-PROFILE]
profiles_config() {
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 2; };
$(engine_config)
cas: {
	rsa: {
		certificate = "$HSM_DIR/rsa-ca.pem";
		key = "$(token_key_uri rsa-ca)";
		days = 30;
	};
	ec: {
		certificate = "$TMP/ec-ca.pem";
		key = "$TMP/ec-ca.key";
		days = 20;
	};
};
profiles: {
	phones: {
		type = "scep"; path = "/scep/phones"; ca = "rsa"; days = 10;
		challenge = { mode = "otp"; };
		extensions = ( ("basicConstraints", "CA:FALSE"),
			       ("keyUsage", "critical,digitalSignature,keyEncipherment"),
			       ("extendedKeyUsage", "clientAuth") );
		renewal = { window_days = 5; };
		refusals_per_minute = 0;
	};
	tablets: {
		type = "scep"; path = "/scep/tablets"; ca = "rsa"; days = 3;
		challenge = { mode = "static"; secret = "file:$TMP/tablets.secret"; };
		renewal = { window_days = 5; };
		refusals_per_minute = 0;
	};
	laptops: {
		type = "scep"; path = "/scep/laptops"; ca = "ec"; days = 15;
		ra = { certificate = "$TMP/ra.pem"; key = "$TMP/ra.key"; };
		challenge = { mode = "otp"; };
		extensions = ( ("basicConstraints", "CA:FALSE"),
			       ("extendedKeyUsage", "emailProtection") );
	};
	servers: {
		type = "csr"; path = "/csr/servers"; ca = "ec"; auth = "none"; days = 7;
		allow = [ "127.0.0.1/32" ];
		subject_alt_name = { request = [ "dNSName" ]; };
		extensions = ( ("basicConstraints", "CA:FALSE"),
			       ("keyUsage", "critical,digitalSignature"),
			       ("extendedKeyUsage", "serverAuth") );
		keys = { ec_curves = [ "P-256" ]; };
	};
	lab: {
		type = "csr"; path = "/csr/lab"; ca = "rsa"; auth = "none";
		allow = [ "127.0.0.1/32" ];
		keys = { rsa_min_bits = 3072; };
	};
	$1
};
$(store_config_line)
log: { level = "debug"; };
CONF
}

# The store's form of a certificate's serial: upper-case hex without leading zeros.
serial_of() { # PEM
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//'
}

# record_of PEM: "PROFILE|CA" of its store record.
record_of() {
	store_sql "SELECT profile || '|' || ca FROM certificates WHERE serial = '$(serial_of "$1")'"
}

# Valid for DAYS days from about now: still valid in DAYS-1 days, gone in DAYS+1.
assert_days() { # PEM DAYS WHAT
	openssl x509 -in "$1" -noout -checkend $((($2 - 1) * 86400)) >/dev/null ||
		fail "$3: not valid for $2 days"
	! openssl x509 -in "$1" -noout -checkend $((($2 + 1) * 86400)) >/dev/null ||
		fail "$3: valid for more than $2 days"
}

n=0
# scep NAME PROFILE [request options...]: one PKIOperation through /scep/PROFILE (with
# transactionID $TXID when set); VERDICT ("SUCCESS", "FAILURE badRequest", "HTTP 404"
# ...), $TMP/NAME.pem on success.
scep() {
	local name=$1 profile=$2
	shift 2
	n=$((n + 1))
	curl -sf -o "$TMP/$profile.ca" "$base/scep/$profile?operation=GetCACert" ||
		fail "$name: GetCACert of $profile"
	scep_pkioperation "$name" "$base/scep/$profile/pkiclient.exe" "$TMP/$profile.ca" \
		--txid "${TXID:-t$n-$name}" "$@"
}

certs() {
	store_sql "SELECT count(*) FROM certificates"
}

# scepd -t checks every CA's key against its certificate, naming the CA.
profiles_config ""
sed -i "s|key = \"$TMP/ec-ca.key\";|key = \"$TMP/ra.key\";|" "$TMP/scepd.conf"
! "$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t accepts a mismatched CA key"
grep -q "cas.ec.key: the key does not match the certificate in cas.ec.certificate" "$TMP/check.out" ||
	fail "scepd -t on a mismatched key: $(cat "$TMP/check.out")"

profiles_config ""
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 ||
	fail "scepd -t refuses the profiles: $(cat "$TMP/check.out")"
start_scepd "$TMP/scepd.conf"
pass "scepd -t accepts two CAs (token and file) and five profiles; the daemon starts"

# Each SCEP profile shows its own CA (and RA), also below its path; other paths are 404.
curl -s -D "$TMP/h" -o "$TMP/phones.bin" "$base/scep/phones?operation=GetCACert"
grep -qix $'Content-Type: application/x-x509-ca-cert\r' "$TMP/h" || fail "phones GetCACert: $(cat "$TMP/h")"
cmp -s "$TMP/phones.bin" <(openssl x509 -in "$HSM_DIR/rsa-ca.pem" -outform DER) ||
	fail "phones GetCACert is not the RSA CA"
curl -s -D "$TMP/h" -o "$TMP/laptops.p7" "$base/scep/laptops/pkiclient.exe?operation=GetCACert"
grep -qix $'Content-Type: application/x-x509-ca-ra-cert\r' "$TMP/h" || fail "laptops GetCACert: $(cat "$TMP/h")"
openssl pkcs7 -inform DER -in "$TMP/laptops.p7" -print_certs >"$TMP/laptops.certs"
grep -q "subject=CN = ec-ca RA" "$TMP/laptops.certs" || fail "laptops: no RA certificate"
grep -q "subject=CN = ec-ca$" "$TMP/laptops.certs" || fail "laptops: no EC CA certificate"
curl -sf -o "$TMP/caps" "$base/scep/tablets/x/y?operation=GetCACaps" || fail "GetCACaps below /scep/tablets"
grep -qx "Renewal" "$TMP/caps" || fail "tablets GetCACaps: $(cat "$TMP/caps")"
for path in /scep /scep/phonesx /cgi-bin/pkiclient.exe /csr /csr/servers/x; do
	assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base$path?operation=GetCACaps")" \
		"GET $path"
done
pass "each SCEP profile answers with its own CA and RA, also below its path; other paths 404"

# Enrolment through each SCEP profile: its CA, extensions, validity, record.
# One-time challenges are minted per profile: phones and laptops both take them.
! "$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new >/dev/null 2>"$TMP/err" ||
	fail "scepctl challenge new chose a profile among two"
grep -q "name the SCEP profile with --profile (phones, tablets, laptops)" "$TMP/err" ||
	fail "scepctl challenge new without --profile: $(cat "$TMP/err")"
! "$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --profile servers >/dev/null 2>"$TMP/err" ||
	fail "scepctl minted a challenge for a csr profile"
phones_otp() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --profile phones; }
laptops_otp() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --profile laptops; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null
scep phone1 phones --key "$TMP/dev.key" --subject /CN=phone1 --challenge "$(phones_otp)"
assert_eq SUCCESS "$VERDICT" "phones enrolment"
openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/phone1.pem" >/dev/null ||
	fail "phones: the certificate does not verify against the RSA CA"
openssl x509 -in "$TMP/phone1.pem" -noout -ext extendedKeyUsage | grep -q "TLS Web Client Authentication" ||
	fail "phones: no clientAuth"
assert_days "$TMP/phone1.pem" 10 "phones"
assert_eq "phones|rsa" "$(record_of "$TMP/phone1.pem")" "phones: the record's profile and CA"

scep tablet1 tablets --key "$TMP/dev.key" --subject /CN=tablet1 --challenge tablets-secret
assert_eq SUCCESS "$VERDICT" "tablets enrolment"
openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/tablet1.pem" >/dev/null ||
	fail "tablets: does not verify"
openssl x509 -in "$TMP/tablet1.pem" -noout -ext keyUsage | grep -q "Key Encipherment" ||
	fail "tablets: not the RSA CA's default extensions"
assert_days "$TMP/tablet1.pem" 3 "tablets"
assert_eq "tablets|rsa" "$(record_of "$TMP/tablet1.pem")" "tablets: the record"

scep laptop1 laptops --key "$TMP/dev.key" --subject /CN=laptop1 --challenge "$(laptops_otp)"
assert_eq SUCCESS "$VERDICT" "laptops enrolment (EC CA, RSA RA)"
openssl verify -CAfile "$TMP/ec-ca.pem" "$TMP/laptop1.pem" >/dev/null ||
	fail "laptops: the certificate does not verify against the EC CA"
openssl x509 -in "$TMP/laptop1.pem" -noout -text | grep -q "Signature Algorithm: ecdsa-with-SHA256" ||
	fail "laptops: not signed by the EC key"
openssl x509 -in "$TMP/laptop1.pem" -noout -ext extendedKeyUsage | grep -q "E-mail Protection" ||
	fail "laptops: no emailProtection"
assert_days "$TMP/laptop1.pem" 15 "laptops"
assert_eq "laptops|ec" "$(record_of "$TMP/laptop1.pem")" "laptops: the record"
otp=$(phones_otp)
scep wrongsecret laptops --key "$TMP/dev.key" --subject /CN=laptop2 --challenge "$otp"
assert_eq "FAILURE badRequest" "$VERDICT" "laptops with a one-time challenge minted for phones"
scep phone2 phones --key "$TMP/dev.key" --subject /CN=phone2 --challenge "$otp"
assert_eq SUCCESS "$VERDICT" "the phones challenge at phones, after it was refused at laptops"
pass "SCEP: each profile issues with its CA, extensions and validity, recorded by profile and CA; one-time challenges per profile"

# /csr profiles.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=www.example" -addext "subjectAltName=DNS:www.example" -out "$TMP/www.csr" 2>/dev/null
code=$(curl -s -o "$TMP/www.pem" -w '%{http_code}' --data-binary @"$TMP/www.csr" "$base/csr/servers")
assert_eq 200 "$code" "POST /csr/servers"
openssl verify -CAfile "$TMP/ec-ca.pem" "$TMP/www.pem" >/dev/null || fail "servers: does not verify"
openssl x509 -in "$TMP/www.pem" -noout -ext extendedKeyUsage | grep -q "TLS Web Server Authentication" ||
	fail "servers: no serverAuth"
openssl x509 -in "$TMP/www.pem" -noout -ext subjectAltName | grep -q "DNS:www.example" ||
	fail "servers: no SAN"
assert_days "$TMP/www.pem" 7 "servers"
assert_eq "servers|ec" "$(record_of "$TMP/www.pem")" "servers: the record"
openssl req -new -newkey rsa:3072 -nodes -keyout /dev/null -subj "/CN=lab3072" \
	-out "$TMP/lab.csr" 2>/dev/null
assert_eq 200 "$(curl -s -o "$TMP/lab.pem" -w '%{http_code}' --data-binary @"$TMP/lab.csr" \
	"$base/csr/lab")" "POST /csr/lab with RSA-3072"
openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/lab.pem" >/dev/null || fail "lab: does not verify"
assert_days "$TMP/lab.pem" 30 "lab (the CA's days)"
assert_eq "lab|rsa" "$(record_of "$TMP/lab.pem")" "lab: the record"
pass "/csr: each profile issues with its CA, extensions and validity"

# Key policy: refused before anything is signed, with the rule.
before=$(certs)
openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj "/CN=lab2048" \
	-out "$TMP/lab2048.csr" 2>/dev/null
code=$(curl -s -o "$TMP/body" -w '%{http_code}' --data-binary @"$TMP/lab2048.csr" "$base/csr/lab")
assert_eq 400 "$code" "RSA-2048 at /csr/lab (rsa_min_bits 3072)"
grep -q "rsa_min_bits is 3072" "$TMP/body" || fail "the 400 does not name the rule: $(cat "$TMP/body")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout /dev/null \
	-subj "/CN=p384" -out "$TMP/p384.csr" 2>/dev/null
code=$(curl -s -o "$TMP/body" -w '%{http_code}' --data-binary @"$TMP/p384.csr" "$base/csr/servers")
assert_eq 400 "$code" "P-384 at /csr/servers (ec_curves P-256)"
grep -q "not in keys.ec_curves" "$TMP/body" || fail "the 400 does not name the rule: $(cat "$TMP/body")"
openssl genpkey -algorithm ed25519 -out "$TMP/ed.key" 2>/dev/null
openssl req -new -key "$TMP/ed.key" -subj "/CN=ed" -out "$TMP/ed.csr" 2>/dev/null
assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/ed.csr" "$base/csr/servers")" \
	"Ed25519 at /csr/servers"
scep weak phones --key "$TMP/weak.key" --key-type rsa1024 --subject /CN=weak --challenge "$(phones_otp)"
assert_eq "FAILURE badRequest" "$VERDICT" "RSA-1024 through SCEP (Apple's default Keysize)"
grep -q "rsa_min_bits is 2048" "$TMP/weak.why" || fail "the FAILURE does not say why: $(cat "$TMP/weak.why")"
assert_eq "$before" "$(certs)" "certificates after the key policy refusals"
pass "key policy: small RSA, other curves, Ed25519 refused (400 / FAILURE badRequest), nothing issued"

# Renewal rules.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/new.key" 2>/dev/null
before=$(certs)
scep early phones --type renewal --key "$TMP/new.key" --subject /CN=phone1 \
	--signer-cert "$TMP/phone1.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badRequest" "$VERDICT" "phones renewal 10 days before expiry (window 5)"
grep -q "renewal opens 5 days before" "$TMP/scepd.log" || fail "the log does not say why"
scep crossed tablets --type renewal --key "$TMP/new.key" --subject /CN=phone1 \
	--signer-cert "$TMP/phone1.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badRequest" "$VERDICT" "tablets renewal of a phones certificate (same CA)"
grep -q "issued through profile phones, not tablets" "$TMP/scepd.log" || fail "the log does not say why"
scep crossed-pkcs tablets --key "$TMP/new.key" --subject /CN=phone1 \
	--signer-cert "$TMP/phone1.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badRequest" "$VERDICT" "a PKCSReq to tablets signed by a phones certificate, no challenge"
scep foreign laptops --type renewal --key "$TMP/new.key" --subject /CN=tablet1 \
	--signer-cert "$TMP/tablet1.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badMessageCheck" "$VERDICT" "laptops (EC CA) renewal of an RSA CA certificate"
scep other tablets --type renewal --key "$TMP/new.key" --subject /CN=admin \
	--signer-cert "$TMP/tablet1.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badRequest" "$VERDICT" "tablets renewal into another subject"
assert_eq "$before" "$(certs)" "certificates after the refused renewals"
scep renewed tablets --type renewal --key "$TMP/new.key" --subject /CN=tablet1 \
	--signer-cert "$TMP/tablet1.pem" --signer-key "$TMP/dev.key"
assert_eq SUCCESS "$VERDICT" "tablets renewal 3 days before expiry (window 5)"
openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/renewed.pem" >/dev/null || fail "renewed: does not verify"
[[ $(serial_of "$TMP/renewed.pem") != $(serial_of "$TMP/tablet1.pem") ]] || fail "renewal gave the old serial"
assert_eq "CN = tablet1" "$(openssl x509 -in "$TMP/renewed.pem" -noout -subject -nameopt oneline | sed 's/^subject=//')" \
	"the renewed subject"
assert_eq "tablets|rsa" "$(record_of "$TMP/renewed.pem")" "the renewal's record"
pass "renewal: outside the window, another profile, another CA, another subject refused; inside the window issued"

# A profile hands out and answers again only its own CA's and its own certificates.
scep laptop-name tablets --key "$TMP/dev.key" --subject /CN=laptop1 --challenge tablets-secret
assert_eq SUCCESS "$VERDICT" "CN=laptop1 through tablets (the RSA CA)"
scep getcert tablets --type getcert --serial "$(serial_of "$TMP/laptop1.pem")" \
	--issuer-cert "$TMP/ec-ca.pem" --key "$TMP/dev.key" --subject /CN=laptop1 \
	--signer-cert "$TMP/laptop-name.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badCertId" "$VERDICT" "GetCert at tablets of the EC CA's laptop1 (same subject)"
grep -q "the certificate is another CA's" "$TMP/scepd.log" || fail "the log does not say why"
scep getcert-own tablets --type getcert --serial "$(serial_of "$TMP/laptop-name.pem")" \
	--key "$TMP/dev.key" --subject /CN=laptop1 \
	--signer-cert "$TMP/laptop-name.pem" --signer-key "$TMP/dev.key"
assert_eq SUCCESS "$VERDICT" "GetCert at tablets of its own certificate"
cmp -s <(openssl x509 -in "$TMP/getcert-own.pem" -outform DER) \
	<(openssl x509 -in "$TMP/laptop-name.pem" -outform DER) || fail "GetCert gave another certificate"
TXID=t1-phone1 scep phone-again tablets --key "$TMP/dev.key" --subject /CN=phone1 \
	--challenge tablets-secret
assert_eq SUCCESS "$VERDICT" "phones' transaction and key sent to tablets"
[[ $(serial_of "$TMP/phone-again.pem") != $(serial_of "$TMP/phone1.pem") ]] ||
	fail "tablets answered the phones profile's certificate as a retransmission"
assert_eq "tablets|rsa" "$(record_of "$TMP/phone-again.pem")" "the record of tablets' own certificate"
pass "GetCert and retransmissions stay within the profile: another CA's serial is unknown"

# A revoked certificate renews nothing; GetCert still hands it out (its holder learns
# its status elsewhere).
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" revoke "$(serial_of "$TMP/renewed.pem")" --reason superseded \
	>/dev/null 2>&1 || fail "scepctl revoke"
before=$(certs)
scep revoked-renewal tablets --type renewal --key "$TMP/new.key" --subject /CN=tablet1 \
	--signer-cert "$TMP/renewed.pem" --signer-key "$TMP/new.key"
assert_eq "FAILURE badRequest" "$VERDICT" "a renewal signed by a revoked certificate"
grep -q "is revoked: superseded" "$TMP/scepd.log" || fail "the log does not say why"
scep revoked-pkcs tablets --key "$TMP/new.key" --subject /CN=tablet1 --challenge tablets-secret \
	--signer-cert "$TMP/renewed.pem" --signer-key "$TMP/new.key"
assert_eq "FAILURE badRequest" "$VERDICT" "a PKCSReq signed by a revoked certificate, with the challenge"
assert_eq "$before" "$(certs)" "certificates after the revoked signer's requests"
scep getcert-revoked tablets --type getcert --serial "$(serial_of "$TMP/renewed.pem")" \
	--key "$TMP/dev.key" --subject /CN=tablet1 \
	--signer-cert "$TMP/tablet1.pem" --signer-key "$TMP/dev.key"
assert_eq SUCCESS "$VERDICT" "GetCert of a revoked certificate"
pass "a revoked signer is refused (renewal and PKCSReq); GetCert still answers a revoked certificate"

# scepctl shows the profiles.
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" issued --profile laptops >"$TMP/issued" ||
	fail "scepctl issued --profile"
assert_eq 1 "$(wc -l <"$TMP/issued")" "scepctl issued --profile laptops"
assert_eq "laptops	ec" "$(cut -f10,11 "$TMP/issued")" "scepctl's profile and CA"
grep -q "audit: result=issued endpoint=scep profile=tablets" "$TMP/scepd.log" ||
	fail "no audit line with the profile"
pass "scepctl issued --profile and the audit line name the profile"

# The real clients at a profile path: micromdm's scepclient, strongSwan's pki (at the
# path with /pkiclient.exe appended, as Windows-style clients send it) and
# certmonger's scep-submit.
openssl x509 -in "$HSM_DIR/rsa-ca.pem" -outform DER -out "$TMP/rsa-ca.der"
clients=
if command -v scepclient >/dev/null; then
	mkdir -p "$TMP/mdm"
	timeout 30 scepclient -server-url "$base/scep/tablets" -private-key "$TMP/mdm/key.pem" 		-certificate "$TMP/mdm/cert.pem" -cn mdm-tablet -challenge tablets-secret 		>"$TMP/mdm.out" 2>&1 || fail "scepclient at /scep/tablets: $(tail -3 "$TMP/mdm.out")"
	openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/mdm/cert.pem" >/dev/null ||
		fail "scepclient: does not verify"
	assert_eq "tablets|rsa" "$(record_of "$TMP/mdm/cert.pem")" "scepclient's record"
	clients+=" scepclient"
fi
if command -v pki >/dev/null; then
	openssl genrsa -out "$TMP/ss.key" 2048 2>/dev/null
	timeout 20 pki --scep --url "$base/scep/tablets/pkiclient.exe" --in "$TMP/ss.key" 		--dn "CN=ss-tablet" --cacert-enc "$TMP/rsa-ca.der" --cacert-sig "$TMP/rsa-ca.der" 		--password tablets-secret --outform pem >"$TMP/ss.pem" 2>"$TMP/ss.out" ||
		fail "pki --scep at /scep/tablets/pkiclient.exe: $(grep -v plugin "$TMP/ss.out" | tail -3)"
	openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/ss.pem" >/dev/null || fail "pki: does not verify"
	assert_eq "tablets|rsa" "$(record_of "$TMP/ss.pem")" "pki's record"
	clients+=" pki"
fi
if [[ -x /usr/lib/certmonger/scep-submit ]]; then
	/usr/lib/certmonger/scep-submit -u "$base/scep/laptops" -C >"$TMP/cm.certs" ||
		fail "scep-submit -C at /scep/laptops"
	grep -q "BEGIN CERTIFICATE" "$TMP/cm.certs" || fail "scep-submit -C: $(cat "$TMP/cm.certs")"
	/usr/lib/certmonger/scep-submit -u "$base/scep/tablets" -c >"$TMP/cm.caps" ||
		fail "scep-submit -c at /scep/tablets"
	grep -qx "Renewal" "$TMP/cm.caps" || fail "scep-submit -c: $(cat "$TMP/cm.caps")"
	clients+=" scep-submit"
fi
[[ -n $clients ]] || skip "none of scepclient, pki, scep-submit is installed"
pass "real clients at profile paths:$clients"

# Reload adding a profile while requests flow: none fails, the new path serves.
request_loop "/scep/phones?operation=GetCACaps" 150 >"$TMP/loop1" &
loop1=$!
request_loop "/scep/laptops?operation=GetCACert" 150 >"$TMP/loop2" &
loop2=$!
sleep 0.5
profiles_config 'extra: { type = "csr"; path = "/csr/extra"; ca = "rsa"; auth = "none"; days = 2; };'
kill -HUP "$SCEPD_PID"
wait "$loop1" "$loop2"
assert_eq 0 "$(($(cat "$TMP/loop1") + $(cat "$TMP/loop2")))" "failed requests out of 300 during the reload"
for _ in $(seq 1 100); do
	grep -q "generation 2 serving" "$TMP/scepd.log" && break
	sleep 0.1
done
assert_eq 200 "$(curl -s -o "$TMP/extra.pem" -w '%{http_code}' --data-binary @"$TMP/lab.csr" \
	"$base/csr/extra")" "POST /csr/extra after the reload"
assert_days "$TMP/extra.pem" 2 "extra"
pass "reload adding a profile under 300 requests: 0 failed, the new profile issues"

# A broken reload (the short form mixed in) keeps the profiles that serve.
echo 'csr: { auth = "none"; };' >>"$TMP/scepd.conf"
kill -HUP "$SCEPD_PID"
for _ in $(seq 1 50); do
	grep -q "cannot be mixed with cas and profiles" "$TMP/scepd.log" && break
	sleep 0.1
done
grep -q "csr: the short form (ca, scep, csr) cannot be mixed with cas and profiles" "$TMP/scepd.log" ||
	fail "the broken reload is not logged"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/lab.csr" \
	"$base/csr/extra")" "POST /csr/extra after the broken reload"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/scep/phones?operation=GetCACaps")" \
	"GetCACaps of phones after the broken reload"
pass "a broken reload keeps the profiles serving"
