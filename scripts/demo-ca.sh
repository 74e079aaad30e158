#!/usr/bin/env bash
# demo-ca.sh DIR - a ready-made demo CA for scepd whose key lives in a SoftHSM2 token.
#
# Creates, under DIR:
#   softhsm2.conf  a SoftHSM configuration whose token directory is DIR/tokens
#   tokens/        the token "scepd-demo" holding the RSA-2048 key pair "ca" (id 01)
#   pin            the token's user PIN (mode 0600, no trailing newline)
#   so-pin         the token's security officer PIN (mode 0600)
#   ca.pem         a self-signed CA certificate, signed by the token key
#   scepd.conf     a scepd configuration that uses all of the above
#
# Every SoftHSM, PKCS#11 and OpenSSL command runs with SOFTHSM2_CONF=DIR/softhsm2.conf,
# so the system's token directory is never touched. The OpenSSL pkcs11 engine is loaded
# on the command line (never through openssl.cnf; see docs/hsm.md).
#
# Idempotent: when DIR already holds ca.pem and the token, it says so and exits 0.
# A half-made DIR (an earlier run killed midway) is refused rather than patched up.
# Needs: softhsm2, opensc (pkcs11-tool), libengine-pkcs11-openssl, openssl. No network.
#
# XXX: softhsm2-util and pkcs11-tool take PINs only as arguments or on a terminal, so
# the demo PINs are briefly visible in the process list. Fine for a demo token; see
# docs/hsm.md for a real one.
set -euo pipefail

readonly TOKEN_LABEL=scepd-demo
readonly KEY_LABEL=ca
readonly KEY_ID=01

die() {
	echo "demo-ca.sh: $*" >&2
	exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
	die "usage: demo-ca.sh DIR"
fi
"$(dirname "$0")/deps.sh"
for tool in softhsm2-util pkcs11-tool openssl; do
	command -v "$tool" >/dev/null || die "$tool not found (apt install softhsm2 opensc openssl)"
done

# The first existing file among the arguments, or nothing.
first_file() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 0
}

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
enginesdir=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p' || true)

engine_so=$(first_file \
	"${enginesdir:+$enginesdir/pkcs11.so}" \
	"${multiarch:+/usr/lib/$multiarch/engines-3/pkcs11.so}" \
	/usr/lib64/engines-3/pkcs11.so /usr/lib/engines-3/pkcs11.so)
if [ -z "$engine_so" ]; then
	engine_so=$(find /usr/lib /usr/lib64 /usr/local/lib -path '*engines-3/pkcs11.so' \
		2>/dev/null | head -n 1 || true)
fi
[ -n "$engine_so" ] || die "OpenSSL pkcs11 engine not found (apt install libengine-pkcs11-openssl)"

module_so=$(first_file \
	/usr/lib/softhsm/libsofthsm2.so \
	"${multiarch:+/usr/lib/$multiarch/softhsm/libsofthsm2.so}" \
	/usr/lib64/pkcs11/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
	/usr/local/lib/softhsm/libsofthsm2.so)
if [ -z "$module_so" ]; then
	module_so=$(find /usr/lib /usr/lib64 /usr/local/lib -name libsofthsm2.so \
		2>/dev/null | head -n 1 || true)
fi
[ -n "$module_so" ] || die "SoftHSM2 PKCS#11 module not found (apt install softhsm2)"

# Everything this script writes is private unless it says otherwise.
umask 077

dir_existed=yes
[ -d "$1" ] || dir_existed=no
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)

export SOFTHSM2_CONF="$DIR/softhsm2.conf"
# Keep libp11 off the p11-kit proxy (which would load every registered module).
export PKCS11_MODULE_PATH="$module_so"

token_exists() {
	[ -f "$SOFTHSM2_CONF" ] &&
		softhsm2-util --show-slots 2>/dev/null |
		grep -Eq "^[[:space:]]*Label:[[:space:]]+${TOKEN_LABEL}[[:space:]]*\$"
}

if [ -f "$DIR/ca.pem" ] && token_exists; then
	echo "demo CA already in $DIR"
	exit 0
fi
for f in softhsm2.conf tokens pin so-pin ca.pem scepd.conf; do
	if [ -e "$DIR/$f" ]; then
		die "$DIR holds an incomplete demo CA ($f exists); remove it and run again"
	fi
done

# On failure, take back what this run made, so that the next run starts clean.
work=$(mktemp -d)
cleanup() {
	local rc=$?
	rm -rf "$work"
	if [ $rc -ne 0 ]; then
		if [ $dir_existed = no ]; then
			rm -rf "$DIR"
		else
			rm -rf "$DIR/tokens"
			rm -f "$DIR/softhsm2.conf" "$DIR/pin" "$DIR/so-pin" "$DIR/ca.pem" \
				"$DIR/scepd.conf"
		fi
		echo "demo-ca.sh: failed; nothing was left behind in $DIR" >&2
	fi
	exit $rc
}
trap cleanup EXIT

mkdir "$DIR/tokens"
cat >"$SOFTHSM2_CONF" <<EOF
# SoftHSM2 configuration of the scepd demo CA (scripts/demo-ca.sh).
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF

pin=$(openssl rand -hex 8)
so_pin=$(openssl rand -hex 8)
printf '%s' "$pin" >"$DIR/pin"
printf '%s' "$so_pin" >"$DIR/so-pin"
chmod 0600 "$DIR/pin" "$DIR/so-pin"

softhsm2-util --init-token --free --label "$TOKEN_LABEL" --so-pin "$so_pin" --pin "$pin" \
	>/dev/null

# Sign (certificates) and decrypt (SCEP envelopes) with the same key.
pkcs11-tool --module "$module_so" --token-label "$TOKEN_LABEL" --login --pin "$pin" \
	--keypairgen --key-type rsa:2048 --label "$KEY_LABEL" --id "$KEY_ID" \
	--usage-sign --usage-decrypt >/dev/null

# A private OpenSSL configuration: req takes its extensions from here, and the library
# loads nothing from the system's openssl.cnf (no engine sections, see hsm.md).
cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = req_dn
x509_extensions = v3_ca
prompt = no

[req_dn]
CN = scepd demo CA

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
EOF
export OPENSSL_CONF="$work/openssl.cnf"

# The engine asks for the PIN through OpenSSL's UI, which -passin answers.
openssl req -new -x509 -config "$OPENSSL_CONF" \
	-engine pkcs11 -keyform engine \
	-key "pkcs11:token=$TOKEN_LABEL;object=$KEY_LABEL;type=private" \
	-passin "file:$DIR/pin" \
	-sha256 -days 3650 \
	-out "$DIR/ca.pem" 2>"$work/req.err" || {
	cat "$work/req.err" >&2
	die "openssl req could not sign with the token key"
}
chmod 0644 "$DIR/ca.pem"

# The certificate must carry the token's public key and verify under it.
pkcs11-tool --module "$module_so" --token-label "$TOKEN_LABEL" \
	--read-object --type pubkey --id "$KEY_ID" -o "$work/pub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/token-pub.pem"
openssl x509 -in "$DIR/ca.pem" -noout -pubkey -out "$work/cert-pub.pem"
cmp -s "$work/token-pub.pem" "$work/cert-pub.pem" ||
	die "ca.pem does not carry the token's public key"
openssl verify -x509_strict -CAfile "$DIR/ca.pem" "$DIR/ca.pem" >/dev/null ||
	die "ca.pem does not verify under its own key"
text=$(openssl x509 -in "$DIR/ca.pem" -noout -text)
for want in 'Subject: CN = scepd demo CA' 'CA:TRUE' 'Certificate Sign, CRL Sign' \
	'X509v3 Subject Key Identifier'; do
	grep -qF "$want" <<<"$text" || die "ca.pem lacks \"$want\""
done

cat >"$DIR/scepd.conf" <<EOF
# scepd configuration of the demo CA made by scripts/demo-ca.sh.
# Relative paths resolve against this file's directory. scepd reaches the token only
# with SOFTHSM2_CONF=$DIR/softhsm2.conf in its environment.

server: {
	listen = ["127.0.0.1:8080"];
	workers = 2;
};

engine: {
	id = "dynamic";
	pre = ( ("SO_PATH", "$engine_so"),
		("ID", "pkcs11"),
		("LIST_ADD", "1"),
		("LOAD"),
		("MODULE_PATH", "$module_so") );
	pin = "file:pin";
};

ca: {
	certificate = "ca.pem";
	key = "pkcs11:token=$TOKEN_LABEL;object=$KEY_LABEL;type=private";
};

# An open /csr: anyone who reaches the port gets a certificate, which is what a demo
# on loopback wants (scepd -t warns). Use "tokens:FILE" anywhere else.
csr: {
	auth = "none";
	subject = { request = ["*"]; };
	subject_alt_name = { request = ["dNSName", "iPAddress"]; };
};

storage: {
	uri = "sqlite:scepd.db";
};

log: {
	level = "info";
};
EOF
chmod 0644 "$DIR/scepd.conf"

cat <<EOF
demo CA created in $DIR
  certificate:  $DIR/ca.pem ($(openssl x509 -in "$DIR/ca.pem" -noout -fingerprint -sha256))
  key:          pkcs11:token=$TOKEN_LABEL;object=$KEY_LABEL;type=private (RSA-2048, in SoftHSM2)
  token dir:    $DIR/tokens
  PINs:         $DIR/pin (user), $DIR/so-pin (security officer)
  SoftHSM conf: $DIR/softhsm2.conf
  scepd conf:   $DIR/scepd.conf

scepd reaches the token only when SOFTHSM2_CONF is exported:
  export SOFTHSM2_CONF=$DIR/softhsm2.conf
  scepd -c $DIR/scepd.conf -t
  scepd -c $DIR/scepd.conf -f
EOF
