#!/usr/bin/env bash
# The JSON admin API (admin.path) with tokens from `scepctl token new`: 401 without a
# token, with garbage, with an unknown one or a wrong secret; 403 out of scope (a
# challenge:ios token cannot mint for android); a challenge minted over the API enrols
# once (scep_client and micromdm's scepclient, openssl verify) and is refused the
# second time; one bound to a subject is refused for another subject and accepted for
# its own; revoking over the
# API makes `openssl ocsp` say revoked and writes an audit line naming token:NAME;
# approve and reject over the API end a PENDING that the client then collects by
# polling (SUCCESS, FAILURE); 400 for an unknown field or a bad ttl, 415 for another
# content type; a client on 127.0.0.2 gets 403 over plain HTTP unless
# admin.allow_plain_http; scepd -t refuses a missing or malformed tokens file; a token
# made while scepd runs works after a reload (SIGHUP), not before; over TLS a token
# works from 127.0.0.2, and a client certificate of admin.client_ca acts with
# admin.client_scopes (audited by its subject) while one of another CA with the same
# subject is refused; no token or challenge ever reaches the log.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"
command -v jq >/dev/null || skip "jq not installed"

make_scep_ca "$TMP"
PORT=$(free_port)
base=http://127.0.0.1:$PORT
api=$base/api/v1
store_prepare
# Tokens and challenges go in a file that secrets_check.sh knows (challenge*): none of
# them may appear in a log.
secrets=$TMP/challenges-and-tokens

admin_config() { # ALLOW_PLAIN_HTTP
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT", "127.0.0.2:$PORT"]; workers = 2; };
cas: {
	main: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; ocsp = { path = "/ocsp"; }; };
};
profiles: {
	ios: { type = "scep"; path = "/scep/ios"; challenge = { mode = "otp"; }; };
	android: { type = "scep"; path = "/scep/android"; challenge = { mode = "otp"; }; };
	manual: { type = "scep"; path = "/scep/manual"; challenge = { mode = "otp"; };
		  approval = "manual"; };
	open: { type = "scep"; path = "/scep/open"; };
};
admin: { tokens = "file:tokens/admin"; allow_plain_http = $1; };
$(store_config_line)
log: { level = "debug"; };
CONF
}

ctl() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@"; }
token() { # NAME SCOPE...: a new token, kept in $secrets
	local name=$1 t
	shift
	t=$(ctl token new "$name" $(printf -- '--scope %s ' "$@")) || fail "token new $name"
	[[ "$t" =~ ^scepd_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$ ]] || fail "token new printed '$t'"
	echo "$t" >>"$secrets"
	echo "$t"
}
# call TOKEN METHOD PATH [BODY [CONTENT-TYPE]]: prints the HTTP status; the body in $TMP/body
call() {
	local tok=$1 method=$2 path=$3 body=${4:-} type=${5:-application/json}
	local args=(-s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method")
	[[ -z "$tok" ]] || args+=(-H "Authorization: Bearer $tok")
	[[ -z "$body" ]] || args+=(-H "Content-Type: $type" --data-binary "$body")
	curl "${args[@]}" "$api$path"
}
error_of() { jq -r .error "$TMP/body"; }

admin_config false
mkdir -m 700 "$TMP/tokens"
# No tokens file yet: scepd -t says so; token new creates it 0600.
! "$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t without a tokens file"
grep -q "admin.tokens: $TMP/tokens/admin: cannot read: No such file or directory" "$TMP/check.out" ||
	fail "scepd -t: $(cat "$TMP/check.out")"
ios=$(token ios-mdm challenge:ios)
assert_eq 600 "$(stat -c %a "$TMP/tokens/admin")" "mode of the created tokens file"
any=$(token any-mdm 'challenge:*')
reader=$(token reader read)
ops=$(token ops revoke approve read)
! ctl token new ops --scope read 2>"$TMP/err" || fail "a second token named ops"
grep -q "has a token named ops already" "$TMP/err" || fail "duplicate name: $(cat "$TMP/err")"
! ctl token new x --scope challenge:nope 2>"$TMP/err" || fail "a scope for no profile"
grep -q "nope is not a SCEP profile" "$TMP/err" || fail "unknown profile: $(cat "$TMP/err")"
! ctl token new x --scope write 2>/dev/null || fail "an unknown scope"
assert_eq 4 "$(grep -c . "$TMP/tokens/admin")" "lines in the tokens file"
! grep -qF "${ios:23}" "$TMP/tokens/admin" || fail "a token's secret is in the tokens file"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
cp "$TMP/tokens/admin" "$TMP/tokens/good"
echo "broken:line" >>"$TMP/tokens/admin"
! "$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t with a malformed line"
grep -q "admin.tokens: $TMP/tokens/admin:5: expected NAME:ID:SCOPES" "$TMP/check.out" ||
	fail "scepd -t: $(cat "$TMP/check.out")"
cp "$TMP/tokens/good" "$TMP/tokens/admin"
pass "scepctl token new: 0600 file, one line each, duplicates and unknown scopes refused; scepd -t reads the file"

start_scepd "$TMP/scepd.conf"

# 401: no token, not a token, a token of no line, a wrong secret.
assert_eq 401 "$(call "" GET /certificates)" "no Authorization"
grep -qi '^WWW-Authenticate: Bearer' "$TMP/headers" || fail "401 without WWW-Authenticate: $(cat "$TMP/headers")"
grep -qi '^Content-Type: application/json' "$TMP/headers" || fail "401 not JSON"
assert_eq "missing Authorization: Bearer token" "$(error_of)" "401 error"
assert_eq 401 "$(call garbage GET /certificates)" "garbage token"
unknown="scepd_0123456789abcdef_${ops:23}"
assert_eq 401 "$(call "$unknown" GET /certificates)" "unknown token ID"
wrong="${ops:0:30}$([[ ${ops:30:1} == A ]] && echo B || echo A)${ops:31}"
assert_eq 401 "$(call "$wrong" GET /certificates)" "a wrong secret"
assert_eq "unknown token" "$(error_of)" "401 error of a wrong secret"
grep -q "refused (401, token id 0123456789abcdef): unknown token" "$TMP/scepd.log" ||
	fail "no log line with the unknown token's ID"
assert_eq 200 "$(call "$reader" GET /certificates)" "the reader lists certificates"
pass "401 without a token, with garbage, an unknown ID or a wrong secret (logged by ID); 200 with a good one"

# 403: out of scope.
assert_eq 403 "$(call "$reader" POST /certificates/01/revoke)" "reader revokes"
assert_eq "token:reader lacks the scope revoke" "$(error_of)" "403 error"
assert_eq 403 "$(call "$reader" POST /requests/x/approve)" "reader approves"
assert_eq 403 "$(call "$reader" POST /profiles/ios/challenges)" "reader mints"
assert_eq 403 "$(call "$ios" GET /certificates)" "challenge token lists"
assert_eq 403 "$(call "$ios" POST /profiles/android/challenges)" "challenge:ios mints for android"
assert_eq 403 "$(call "$ops" POST /profiles/ios/challenges)" "ops mints"
assert_eq 404 "$(call "$any" POST /profiles/nope/challenges)" "a profile that does not exist"
assert_eq 409 "$(call "$any" POST /profiles/open/challenges)" "a profile without one-time challenges"
assert_eq 404 "$(call "$reader" GET /nothing)" "an unknown endpoint"
assert_eq 405 "$(call "$reader" POST /certificates)" "POST to a GET endpoint"
pass "403 out of scope (challenge:ios cannot mint for android), 404/409 for profiles that cannot mint"

# 400 and 415 on bodies.
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 3600, "colour": "red"}')" "unknown field"
[[ "$(error_of)" == *"unknown field 'colour'"* ]] || fail "400 error: $(error_of)"
long=$(printf '€%.0s' $(seq 1 30)) # 90 bytes: the message cuts it inside a character
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges "{\"$long\": 1}")" "a long non-ASCII field name"
[[ "$(error_of)" == "unknown field '"* ]] || fail "400 error: $(error_of)"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges $'{"ttl": 60, "owner": "\xff"}')" "not UTF-8"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"owner": "a\u0001b"}')" "a control character"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"owner": "a", "owner": "b"}')" "a field twice"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 59}')" "ttl too small"
[[ "$(error_of)" == "ttl: "* ]] || fail "400 error: $(error_of)"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": "3600"}')" "ttl as a string"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 604801}')" "ttl too large"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 60' )" "not JSON"
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '[]')" "not an object"
assert_eq 415 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 600}' text/plain)" "text/plain"
assert_eq 400 "$(call "$reader" GET '/certificates?status=weird')" "unknown status filter"
assert_eq 400 "$(call "$reader" GET '/certificates?limit=1001')" "limit too large"
pass "400 for unknown fields, bad ttl, bad JSON, bad filters; 415 for another content type"

# A challenge over the API, used once by an enrolment.
curl -sf -o "$TMP/ios.ca" "$base/scep/ios?operation=GetCACert" || fail "GetCACert"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null
pki() { # NAME PROFILE [scep_client request options...]: VERDICT of the answer
	local name=$1 profile=$2
	shift 2
	scep_pkioperation "$name" "$base/scep/$profile" "$TMP/ios.ca" --key "$TMP/dev.key" "$@"
}
assert_eq 201 "$(call "$ios" POST /profiles/ios/challenges '{"ttl": 600, "owner": "alice"}')" "mint"
grep -qi '^Content-Type: application/json' "$TMP/headers" || fail "201 not JSON"
otp=$(jq -r .challenge "$TMP/body")
echo "$otp" >>"$secrets"
[[ "$otp" =~ ^[0-9a-f]{32}$ ]] || fail "challenge: $(cat "$TMP/body")"
assert_eq ios "$(jq -r .profile "$TMP/body")" "profile of the challenge"
expires=$(date -u -d "$(jq -r .expires "$TMP/body")" +%s)
((expires > $(date +%s) + 590 && expires <= $(date +%s) + 601)) || fail "expires: $(cat "$TMP/body")"
pki first ios --subject /CN=phone1 --challenge "$otp"
assert_eq SUCCESS "$VERDICT" "enrolment with the API's challenge"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/first.pem" >/dev/null || fail "the certificate does not verify"
pki second ios --subject /CN=phone2 --challenge "$otp" --txid second-tx
assert_eq "FAILURE badRequest" "$VERDICT" "the same challenge again"
assert_eq 201 "$(call "$any" POST /profiles/android/challenges)" "challenge:* mints for android (no body)"
echo "$(jq -r .challenge "$TMP/body")" >>"$secrets"
pass "a challenge minted over the API enrols once (openssl verify), the second use gets FAILURE"

# The same with micromdm's scepclient, as a device would enrol.
if command -v scepclient >/dev/null; then
	mdm_enrol() { # NAME CHALLENGE: 0 when a certificate came back
		local dir=$TMP/mdm-$1
		mkdir -p "$dir"
		timeout 30 scepclient -server-url "$base/scep/ios" -private-key "$dir/key.pem" \
			-certificate "$dir/cert.pem" -cn "$1" -challenge "$2" >"$TMP/$1.out" 2>&1 &&
			[[ -s "$dir/cert.pem" ]]
	}
	assert_eq 201 "$(call "$ios" POST /profiles/ios/challenges '{"owner": "bob"}')" "mint for scepclient"
	otp2=$(jq -r .challenge "$TMP/body")
	echo "$otp2" >>"$secrets"
	mdm_enrol mdm-phone "$otp2" || fail "scepclient with the API's challenge: $(tail -3 "$TMP/mdm-phone.out")"
	openssl verify -CAfile "$TMP/ca.pem" "$TMP/mdm-mdm-phone/cert.pem" >/dev/null ||
		fail "scepclient's certificate does not verify"
	! mdm_enrol mdm-again "$otp2" || fail "scepclient enrolled twice with one challenge"
	grep -q "the challenge password was used already" "$TMP/scepd.log" || fail "no log of the reuse"
	pass "scepclient enrols with a challenge from the API once; the second enrolment is refused"
fi

# A challenge bound to a subject: refused for another subject (and left unused), then
# accepted for its own.
assert_eq 400 "$(call "$ios" POST /profiles/ios/challenges '{"subject": "no equals sign"}')" "a subject without TYPE="
assert_eq 201 "$(call "$ios" POST /profiles/ios/challenges '{"subject": "CN=bound-dev,O=Example"}')" "mint bound"
bound=$(jq -r .challenge "$TMP/body")
echo "$bound" >>"$secrets"
pki thief ios --subject /O=Example/CN=thief --challenge "$bound" --txid thief-tx
assert_eq "FAILURE badRequest" "$VERDICT" "a subject-bound challenge used for another subject"
grep -q "the challenge password is for another subject" "$TMP/scepd.log" ||
	fail "no log line for the challenge of another subject"
pki owner ios --subject /O=Example/CN=bound-dev --challenge "$bound" --txid owner-tx
assert_eq SUCCESS "$VERDICT" "the subject-bound challenge used for its subject"
assert_eq "CN=bound-dev,O=Example" "$(openssl x509 -in "$TMP/owner.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" \
	"subject of the certificate"
pass "subject-bound challenge refused for another subject, accepted for its subject"

# Certificates: list, filter, one with its PEM; revoke -> OCSP says revoked.
serial=$(openssl x509 -in "$TMP/first.pem" -noout -serial | sed 's/^serial=//; s/^0*//')
assert_eq 200 "$(call "$reader" GET "/certificates?profile=ios&status=valid")" "list"
assert_eq 200 "$(call "$reader" GET "/certificates?serial=00$serial")" "list by serial"
assert_eq "$serial" "$(jq -r '.certificates[0].serial' "$TMP/body")" "serial in the list"
assert_eq "CN=phone1" "$(jq -r '.certificates[0].subject' "$TMP/body")" "subject in the list"
assert_eq 1 "$(jq '.certificates | length' "$TMP/body")" "certificates of that serial"
assert_eq "main" "$(jq -r '.certificates[0].ca' "$TMP/body")" "CA in the list"
assert_eq false "$(jq -r .truncated "$TMP/body")" "truncated"
assert_eq 200 "$(call "$reader" GET "/certificates?profile=android")" "list of another profile"
assert_eq 0 "$(jq '.certificates | length' "$TMP/body")" "android's certificates"
assert_eq 200 "$(call "$reader" GET "/certificates/$serial")" "one certificate"
jq -r .pem "$TMP/body" >"$TMP/got.pem"
cmp <(openssl x509 -in "$TMP/got.pem" -outform DER) <(openssl x509 -in "$TMP/first.pem" -outform DER) ||
	fail "the PEM of GET /certificates/SERIAL is not the certificate"
assert_eq 404 "$(call "$reader" GET /certificates/ABCDEF0123)" "an unknown serial"
ocsp() {
	openssl ocsp -issuer "$TMP/ca.pem" -cert "$TMP/first.pem" -url "$base/ocsp" -CAfile "$TMP/ca.pem" \
		>"$TMP/ocsp.out" 2>&1 || true
	grep -q "^Response verify OK" "$TMP/ocsp.out" || fail "OCSP response does not verify: $(cat "$TMP/ocsp.out")"
	sed -n "s|^$TMP/first.pem: ||p" "$TMP/ocsp.out"
}
assert_eq good "$(ocsp)" "OCSP before the revocation"
assert_eq 400 "$(call "$ops" POST "/certificates/$serial/revoke" '{"reason": "stolen"}')" "unknown reason"
assert_eq 404 "$(call "$ops" POST /certificates/ABCDEF0123/revoke '{"reason": "keyCompromise"}')" "revoke unknown"
assert_eq 200 "$(call "$ops" POST "/certificates/$serial/revoke" '{"reason": "keyCompromise"}')" "revoke"
assert_eq revoked "$(jq -r .status "$TMP/body")" "status after the revocation"
assert_eq keyCompromise "$(jq -r .revocation_reason "$TMP/body")" "reason after the revocation"
assert_eq revoked "$(ocsp)" "OCSP after the revocation"
grep -q "Reason: keyCompromise" "$TMP/ocsp.out" || fail "OCSP reason: $(cat "$TMP/ocsp.out")"
assert_eq 409 "$(call "$ops" POST "/certificates/$serial/revoke")" "revoke again"
grep -q "audit: result=revoked .*serial=$serial .*user=token:ops" "$TMP/scepd.log" ||
	fail "no audit line for the revocation naming token:ops"
grep -q "audit: result=challenge endpoint=admin profile=ios .*user=token:ios-mdm" "$TMP/scepd.log" ||
	fail "no audit line for the minted challenge"
assert_eq 200 "$(call "$reader" GET "/certificates?status=revoked")" "list of revoked"
assert_eq "$serial" "$(jq -r '.certificates[0].serial' "$TMP/body")" "revoked in the list"
pass "list, filter and show certificates; revoke over the API -> OCSP revoked (keyCompromise), 409 again; audit names token:ops"

# Manual approval: approve -> the poll gets the certificate; reject -> FAILURE.
curl -sf -o "$TMP/manual.ca" "$base/scep/manual?operation=GetCACert" || fail "GetCACert manual"
for name in ok no; do
	assert_eq 201 "$(call "$any" POST /profiles/manual/challenges)" "mint for manual"
	c=$(jq -r .challenge "$TMP/body")
	echo "$c" >>"$secrets"
	pki "pend-$name" manual --subject "/CN=pend-$name" --txid "tx-$name" --challenge "$c"
	assert_eq PENDING "$VERDICT" "PKCSReq of pend-$name under manual approval"
done
assert_eq 200 "$(call "$reader" GET '/requests?status=pending')" "pending list"
assert_eq "tx-no tx-ok" "$(jq -r '[.requests[].transaction_id] | sort | join(" ")' "$TMP/body")" "pending txids"
assert_eq 404 "$(call "$ops" POST /requests/no-such-tx/approve)" "approve unknown"
assert_eq 400 "$(call "$ops" POST /requests/tx-ok/approve '{"force": true}')" "approve with a field"
assert_eq 200 "$(call "$ops" POST /requests/tx-ok/approve)" "approve"
assert_eq approved "$(jq -r .status "$TMP/body")" "status after approve"
assert_eq 200 "$(call "$ops" POST /requests/tx-no/reject)" "reject"
assert_eq 409 "$(call "$ops" POST /requests/tx-no/approve)" "approve a rejected request"
[[ "$(error_of)" == "the request is rejected, not pending" ]] || fail "409 error: $(error_of)"
pki poll-ok manual --type poll --subject /CN=pend-ok --txid tx-ok
assert_eq SUCCESS "$VERDICT" "CertPoll after the API's approve"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/poll-ok.pem" >/dev/null || fail "the polled certificate does not verify"
pki poll-no manual --type poll --subject /CN=pend-no --txid tx-no
[[ "$VERDICT" == FAILURE* ]] || fail "CertPoll after the API's reject: $VERDICT"
grep -q "audit: result=approved .*transaction_id=tx-ok .*user=token:ops" "$TMP/scepd.log" ||
	fail "no audit line for the approval"
grep -q "audit: result=rejected .*transaction_id=tx-no .*user=token:ops" "$TMP/scepd.log" ||
	fail "no audit line for the rejection"
assert_eq 200 "$(call "$reader" GET /requests)" "pending list after the decisions"
assert_eq 0 "$(jq '.requests | length' "$TMP/body")" "pending after the decisions"
pass "approve over the API -> CertPoll SUCCESS; reject -> FAILURE; 404 unknown, 409 not pending"

# A token made while scepd runs works once a reload (new workers) read the file.
late=$(token late read)
assert_eq 401 "$(call "$late" GET /certificates)" "a token made after the workers started"
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 10 || fail "no generation 2 after SIGHUP"
assert_eq 200 "$(call "$late" GET /certificates)" "the new token after the reload"
pass "a new token works after a reload (SIGHUP), not before"

# Plain HTTP from a non-loopback address (127.0.0.2): refused, unless allow_plain_http.
plain() { curl -s -o "$TMP/body" -w '%{http_code}' --interface 127.0.0.2 \
	-H "Authorization: Bearer $reader" "http://127.0.0.2:$PORT/api/v1/certificates"; }
assert_eq 403 "$(plain)" "plain HTTP from 127.0.0.2"
assert_eq "use the TLS listener (server.tls) for the admin API" "$(error_of)" "403 error from 127.0.0.2"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
	"http://127.0.0.2:$PORT/healthz")" "other paths from 127.0.0.2"
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
admin_config true
start_scepd "$TMP/scepd.conf"
assert_eq 200 "$(plain)" "plain HTTP from 127.0.0.2 with allow_plain_http"
pass "plain HTTP from 127.0.0.2: 403, 200 with admin.allow_plain_http = true"

# Over TLS (server.tls), with client certificates of admin.client_ca as identities.
TPORT=$(free_port)
tls=$TMP/tls
mkdir -p "$tls"
tls_ca() { # NAME: a CA in $tls/NAME.pem
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/$1.key" \
		-out "$tls/$1.pem" -subj "/CN=$1" -days 30 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
tls_cert() { # CA NAME SUBJECT EXTENSIONS: $tls/NAME.pem and .key, issued by CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/$2.key" \
		-subj "$3" -out "$tls/$2.csr" 2>/dev/null
	printf '%b' "$4" >"$tls/$2.ext"
	openssl x509 -req -in "$tls/$2.csr" -CA "$tls/$1.pem" -CAkey "$tls/$1.key" -days 20 \
		-set_serial "0x$(openssl rand -hex 8)" -extfile "$tls/$2.ext" -out "$tls/$2.pem" 2>/dev/null
	chmod 600 "$tls/$2.key"
}
tls_ca server-ca
tls_ca clients-ca
tls_ca rogue-ca
tls_cert server-ca server "/CN=127.0.0.1" 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2\nextendedKeyUsage=serverAuth\n'
tls_cert clients-ca fleet "/O=Example/CN=fleet" 'extendedKeyUsage=clientAuth\n'
tls_cert rogue-ca rogue "/O=Example/CN=fleet" 'extendedKeyUsage=clientAuth\n'
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
admin_config false
sed -i "s|workers = 2; };|workers = 2; tls = { listen = [\"127.0.0.1:$TPORT\", \"127.0.0.2:$TPORT\"]; certificate = \"$tls/server.pem\"; key = \"$tls/server.key\"; }; };|" "$TMP/scepd.conf"
sed -i "s|allow_plain_http = false; };|allow_plain_http = false; client_ca = \"$tls/clients-ca.pem\"; client_scopes = [\"read\", \"revoke\"]; };|" "$TMP/scepd.conf"
grep -q "client_scopes" "$TMP/scepd.conf" || fail "the TLS settings did not go in"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t with TLS: $(cat "$TMP/check.out")"
start_scepd "$TMP/scepd.conf"
https() { # HOST [curl args...] METHOD PATH: the status, the body in $TMP/body
	local host=$1
	shift
	curl -s -o "$TMP/body" -w '%{http_code}' --cacert "$tls/server-ca.pem" --interface "$host" \
		"${@:1:$#-2}" -X "${@: -2:1}" "https://$host:$TPORT/api/v1${@: -1}"
}
assert_eq 200 "$(https 127.0.0.2 -H "Authorization: Bearer $reader" GET /certificates)" \
	"a token over TLS from 127.0.0.2"
assert_eq 403 "$(plain)" "plain HTTP from 127.0.0.2 next to the TLS listener"
assert_eq 401 "$(https 127.0.0.2 GET /certificates)" "TLS without a token or a client certificate"
assert_eq "missing Authorization: Bearer token or client certificate" "$(error_of)" "401 error over TLS"
assert_eq 401 "$(https 127.0.0.2 --cert "$tls/rogue.pem" --key "$tls/rogue.key" GET /certificates)" \
	"a client certificate of another CA, the same subject"
assert_eq "the client certificate does not verify against admin.client_ca" "$(error_of)" "401 error of the rogue"
assert_eq 200 "$(https 127.0.0.2 --cert "$tls/fleet.pem" --key "$tls/fleet.key" GET /certificates)" \
	"the client certificate reads"
valid=$(jq -r '[.certificates[] | select(.status == "valid")][0].serial' "$TMP/body")
[[ -n "$valid" && "$valid" != null ]] || fail "no valid certificate to revoke: $(cat "$TMP/body")"
assert_eq 403 "$(https 127.0.0.2 --cert "$tls/fleet.pem" --key "$tls/fleet.key" POST /profiles/ios/challenges)" \
	"the client certificate mints without the scope"
assert_eq "cert:CN=fleet,O=Example lacks the scope challenge:ios" "$(error_of)" "403 error of the certificate"
assert_eq 200 "$(https 127.0.0.2 --cert "$tls/fleet.pem" --key "$tls/fleet.key" -H 'Content-Type: application/json' \
	--data-binary '{"reason": "superseded"}' POST "/certificates/$valid/revoke")" "the client certificate revokes"
grep -q "audit: result=revoked .*serial=$valid .*user=\"cert:CN=fleet,O=Example\"" "$TMP/scepd.log" ||
	fail "no audit line naming the client certificate: $(grep "serial=$valid" "$TMP/scepd.log")"
pass "over TLS: tokens from 127.0.0.2; a client certificate of admin.client_ca acts with admin.client_scopes (audited by subject); another CA's is refused"

# No token, no challenge in the log.
while IFS= read -r s; do
	! grep -qF "$s" "$TMP/scepd.log" || fail "a token or challenge is in the log"
done <"$secrets"
pass "no token or challenge in the log"
