#!/usr/bin/env bash
# /csr policy and tokens: only requested fields are copied, counts are enforced, set
# values expand %{REMOTE_ADDR} and %{REMOTE_USER}; bearer tokens from csr.auth.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
token=$(openssl rand -hex 16)
printf '# test tokens\nbuild-server:%s\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" \
	>"$TMP/tokens"
write_config "$TMP/scepd.conf" "workers = 1;"
cat >>"$TMP/scepd.conf" <<CONF
csr: {
	auth = "tokens:$TMP/tokens";
	subject = {
		request = ( ("CN", 1) );
		set = ( ("OU", "%{REMOTE_USER}"), ("L", "%{REMOTE_ADDR}") );
	};
	subject_alt_name = { request = ( ("dNSName", 2) ); set = ( ("dNSName", "fixed.example") ); };
};
CONF
start_scepd "$TMP/scepd.conf"
url=http://127.0.0.1:$PORT/csr
auth="Authorization: Bearer $token"

csr() { # FILE SUBJECT [SAN]
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "$2" ${3:+-addext "subjectAltName=$3"} -out "$1" 2>/dev/null
}

csr "$TMP/ok.csr" "/CN=dev1/O=Dropped" "DNS:a.example"
assert_eq 401 "$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' --data-binary @"$TMP/ok.csr" "$url")" \
	"no token"
assert_eq "a valid bearer token is required" "$(cat "$TMP/body")" "401 text"
grep -qi '^WWW-Authenticate: Bearer' "$TMP/headers" || fail "401 without WWW-Authenticate"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
	--data-binary @"$TMP/ok.csr" "$url")" "wrong token"
pass "401 without or with a wrong token"

assert_eq 200 "$(curl -s -o "$TMP/ok.pem" -w '%{http_code}' -H "$auth" --data-binary @"$TMP/ok.csr" "$url")" \
	"request with the token"
subject=$(openssl x509 -in "$TMP/ok.pem" -noout -subject -nameopt RFC2253)
for part in "CN=dev1" "OU=build-server" "L=127.0.0.1"; do
	[[ "$subject" == *"$part"* ]] || fail "subject '$subject' lacks $part"
done
[[ "$subject" != *"O=Dropped"* ]] || fail "O copied though not requested: $subject"
openssl x509 -in "$TMP/ok.pem" -noout -ext subjectAltName | grep -q "DNS:a.example, DNS:fixed.example" ||
	fail "SAN: $(openssl x509 -in "$TMP/ok.pem" -noout -ext subjectAltName)"
pass "CN copied, O dropped, OU = token name, L = client address, SAN copied + set"

csr "$TMP/two.csr" "/CN=a/CN=b"
assert_eq 403 "$(curl -s -o "$TMP/body" -w '%{http_code}' -H "$auth" --data-binary @"$TMP/two.csr" "$url")" \
	"two CNs"
grep -q "^refused by policy: .*CN" "$TMP/body" || fail "403 text does not name CN: $(cat "$TMP/body")"
csr "$TMP/sans.csr" "/CN=c" "DNS:1.example,DNS:2.example,DNS:3.example"
assert_eq 403 "$(curl -s -o "$TMP/body" -w '%{http_code}' -H "$auth" --data-binary @"$TMP/sans.csr" "$url")" \
	"three dNSNames"
grep -q "^refused by policy: .*dNSName" "$TMP/body" || fail "403 text does not name dNSName: $(cat "$TMP/body")"
grep -q "audit: result=denied endpoint=csr" "$TMP/scepd.log" || fail "no audit record for a refusal"
pass "403 naming the rule for too many CN / dNSName"
