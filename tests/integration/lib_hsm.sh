# lib_hsm.sh - SoftHSM helpers for the integration tests; source it after lib.sh.
# Everything lives under $TMP/hsm, with a private SoftHSM configuration, so the
# system's token directory is never touched. Skips the test (exit 77) when SoftHSM,
# OpenSC's pkcs11-tool or the OpenSSL pkcs11 engine is missing.
#
#   make_token LABEL               $TMP/hsm/softhsm2.conf (tokens in $TMP/hsm/tokens),
#                                  token LABEL with a random user PIN in $TMP/hsm/pin
#                                  (no newline); exports SOFTHSM2_CONF
#   make_token_ca OBJECT KEYTYPE   key pair OBJECT generated in the token (KEYTYPE:
#                                  rsa:2048|rsa:3072|rsa:4096|EC:prime256v1|EC:secp384r1)
#                                  and $TMP/hsm/OBJECT.pem, a self-signed CA certificate
#                                  made with it through the engine
#   engine_config                  prints an engine { ... } block for scepd.conf
# SoftHSM's library.reset_on_fork is $SCEPD_RESET_ON_FORK (default false, Debian's
# default); ctest runs the HSM tests with both values.
#   token_key_uri OBJECT           prints pkcs11:token=LABEL;object=OBJECT;type=private
#
# Also set: HSM_ENGINE_SO (the engine), HSM_MODULE (libsofthsm2.so), HSM_LABEL, HSM_PIN.

HSM_DIR=$TMP/hsm
HSM_LABEL=
HSM_PIN=
HSM_NEXT_ID=1

hsm_first_file() {
	local f
	for f in "$@"; do
		if [[ -n "$f" && -f "$f" ]]; then
			echo "$f"
			return 0
		fi
	done
	return 0
}

hsm_find_paths() {
	local multiarch enginesdir
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
		gcc -print-multiarch 2>/dev/null || true)
	enginesdir=$(openssl version -e 2>/dev/null |
		sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p' || true)
	HSM_ENGINE_SO=$(hsm_first_file \
		"${enginesdir:+$enginesdir/pkcs11.so}" \
		"${multiarch:+/usr/lib/$multiarch/engines-3/pkcs11.so}" \
		/usr/lib64/engines-3/pkcs11.so /usr/lib/engines-3/pkcs11.so)
	if [[ -z "$HSM_ENGINE_SO" ]]; then
		HSM_ENGINE_SO=$(find /usr/lib /usr/lib64 /usr/local/lib -path '*engines-3/pkcs11.so' \
			2>/dev/null | head -n 1 || true)
	fi
	HSM_MODULE=$(hsm_first_file \
		/usr/lib/softhsm/libsofthsm2.so \
		"${multiarch:+/usr/lib/$multiarch/softhsm/libsofthsm2.so}" \
		/usr/lib64/pkcs11/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so)
	if [[ -z "$HSM_MODULE" ]]; then
		HSM_MODULE=$(find /usr/lib /usr/lib64 /usr/local/lib -name libsofthsm2.so \
			2>/dev/null | head -n 1 || true)
	fi
	[[ -n "$HSM_ENGINE_SO" ]] || skip "the OpenSSL pkcs11 engine is not installed"
	[[ -n "$HSM_MODULE" ]] || skip "SoftHSM2 is not installed"
	local tool
	for tool in softhsm2-util pkcs11-tool openssl; do
		command -v "$tool" >/dev/null || skip "$tool is not installed"
	done
}

make_token() { # LABEL
	local so_pin
	hsm_find_paths
	mkdir -p "$HSM_DIR/tokens"
	cat >"$HSM_DIR/softhsm2.conf" <<EOF
directories.tokendir = $HSM_DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
library.reset_on_fork = ${SCEPD_RESET_ON_FORK:-false}
EOF
	export SOFTHSM2_CONF=$HSM_DIR/softhsm2.conf
	HSM_LABEL=$1
	HSM_PIN=$(openssl rand -hex 8)
	so_pin=$(openssl rand -hex 8)
	(umask 077 && printf '%s' "$HSM_PIN" >"$HSM_DIR/pin")
	softhsm2-util --init-token --free --label "$HSM_LABEL" --so-pin "$so_pin" \
		--pin "$HSM_PIN" >/dev/null || fail "softhsm2-util cannot make token $HSM_LABEL"
	# The engine and openssl req read no system openssl.cnf (no engine sections there).
	cat >"$HSM_DIR/openssl.cnf" <<'EOF'
[req]
distinguished_name = req_dn
x509_extensions = v3_ca
prompt = no
[req_dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
EOF
}

make_token_ca() { # OBJECT KEYTYPE
	local object=$1 keytype=$2 id usage=(--usage-sign)
	[[ -n "$HSM_LABEL" ]] || fail "make_token_ca before make_token"
	id=$(printf '%02x' "$HSM_NEXT_ID")
	HSM_NEXT_ID=$((HSM_NEXT_ID + 1))
	[[ "$keytype" == rsa:* ]] && usage+=(--usage-decrypt)
	pkcs11-tool --module "$HSM_MODULE" --token-label "$HSM_LABEL" --login --pin "$HSM_PIN" \
		--keypairgen --key-type "$keytype" --label "$object" --id "$id" "${usage[@]}" \
		>"$HSM_DIR/keygen.out" 2>&1 ||
		fail "pkcs11-tool cannot make $keytype key $object: $(cat "$HSM_DIR/keygen.out")"
	OPENSSL_CONF=$HSM_DIR/openssl.cnf PKCS11_MODULE_PATH=$HSM_MODULE \
		openssl req -new -x509 -config "$HSM_DIR/openssl.cnf" \
		-engine pkcs11 -keyform engine -key "$(token_key_uri "$object")" \
		-passin "file:$HSM_DIR/pin" -subj "/CN=$object" -sha256 -days 30 \
		-out "$HSM_DIR/$object.pem" >"$HSM_DIR/req.out" 2>&1 ||
		fail "openssl req cannot sign with token key $object: $(cat "$HSM_DIR/req.out")"
}

engine_config() {
	cat <<EOF
engine: {
	id = "dynamic";
	pre = ( ("SO_PATH", "$HSM_ENGINE_SO"),
		("ID", "pkcs11"),
		("LIST_ADD", "1"),
		("LOAD"),
		("MODULE_PATH", "$HSM_MODULE") );
	pin = "file:$HSM_DIR/pin";
};
EOF
}

token_key_uri() { # OBJECT
	echo "pkcs11:token=$HSM_LABEL;object=$1;type=private"
}
