#!/usr/bin/env bash
# A second PKCS#11 module: CA keys in a software TPM (swtpm) through tpm2-pkcs11, not
# SoftHSM. swtpm listens on loopback, tpm2-abrmd (on a private D-Bus session bus) is
# the resource manager between it and every client, tpm2_ptool makes the token (its
# store in $TMP). Two runs, since scepd serves one CA: an RSA-2048 CA key that also
# decrypts SCEP, then a P-256 CA key with an RSA RA key file. Each run: `scepd -t`,
# 2 workers, 8 concurrent /csr requests and 4 concurrent SCEP enrolments, each
# certificate verified, its subject checked and its store record found; both workers
# signed; the workers map libtpm2_pkcs11.so and the supervisor does not.
#
# tpm2-pkcs11 runs OpenSSL itself during C_Login (it encrypts the TPM session salt), so
# the pkcs11 engine must not be OpenSSL's default for anything: `openssl req -engine
# pkcs11` makes it the default and the login fails. scepd loads keys with
# ENGINE_load_private_key() only (keys.c); this test fails if that ever changes. The CA
# certificates here come from `openssl req -key org.openssl.engine:pkcs11:URI`, which
# loads the key through the engine without making it a default (docs/hsm.md).
#
# Skips (77) when a package is missing or swtpm, dbus-daemon or tpm2-abrmd cannot run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

TPM_DIR=$TMP/tpm
mkdir -p "$TPM_DIR/state" "$TPM_DIR/store"

# What is needed, by package (scripts/deps.sh installs them all).
for tool in swtpm:swtpm tpm2-abrmd:tpm2-abrmd dbus-daemon:dbus tpm2_ptool:libtpm2-pkcs11-tools \
	tpm2_getcap:tpm2-tools pkcs11-tool:opensc openssl:openssl; do
	command -v "${tool%%:*}" >/dev/null ||
		skip "${tool%%:*} is not installed (package ${tool#*:}; scripts/deps.sh installs it)"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
TPM_MODULE=$(hsm_first_file "/usr/lib/$multiarch/pkcs11/libtpm2_pkcs11.so" \
	"/usr/lib/$multiarch/libtpm2_pkcs11.so.1" /usr/lib64/pkcs11/libtpm2_pkcs11.so)
[[ -n "$TPM_MODULE" ]] || skip "tpm2-pkcs11 is not installed (package libtpm2-pkcs11-1)"
for tcti in swtpm tabrmd; do
	ls /usr/lib/"$multiarch"/libtss2-tcti-$tcti.so* >/dev/null 2>&1 ||
		skip "the $tcti TCTI is not installed (package libtss2-tcti-${tcti}0)"
done
hsm_find_paths # the pkcs11 engine (HSM_ENGINE_SO); SoftHSM is not used

# swtpm's TCTI reaches the control channel at the server port + 1: two ports in a row.
free_port_pair() {
	local p
	for _ in $(seq 1 20); do
		p=$(free_port)
		ss -Htan "sport = :$((p + 1))" | grep -q . && continue
		mkdir "$PORT_LOCKS/$((p + 1))" 2>/dev/null || continue
		echo $$ >"$PORT_LOCKS/$((p + 1))/pid"
		echo "$p"
		return 0
	done
	fail "no two free ports in a row"
}

# 1. The TPM: swtpm, a private session bus, tpm2-abrmd as the resource manager. Without
# one, tpm2_ptool runs out of TPM object slots at once (swtpm keeps 3 loaded objects,
# and every tpm2-tools command leaves its own behind); so would the workers.
TPM_PORT=$(free_port_pair)
swtpm socket --tpm2 --tpmstate "dir=$TPM_DIR/state" --flags not-need-init,startup-clear \
	--server "type=tcp,port=$TPM_PORT,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1" \
	--log "file=$TPM_DIR/swtpm.log,level=1" >"$TPM_DIR/swtpm.out" 2>&1 &
BACKGROUND_PIDS+=($!)
swtpm_pid=$!
for _ in $(seq 1 50); do
	ss -Hltn "sport = :$TPM_PORT" | grep -q . && break
	kill -0 "$swtpm_pid" 2>/dev/null ||
		skip "swtpm cannot run here: $(cat "$TPM_DIR"/swtpm.* 2>/dev/null | tail -n 2 | tr '\n' ' ')"
	sleep 0.1
done
ss -Hltn "sport = :$TPM_PORT" | grep -q . || skip "swtpm does not listen on port $TPM_PORT"

dbus-daemon --session --address="unix:path=$TPM_DIR/bus" --nofork --nopidfile \
	>"$TPM_DIR/dbus.out" 2>&1 &
BACKGROUND_PIDS+=($!)
for _ in $(seq 1 50); do
	[[ -S "$TPM_DIR/bus" ]] && break
	sleep 0.1
done
[[ -S "$TPM_DIR/bus" ]] || skip "dbus-daemon cannot run here: $(tail -n 2 "$TPM_DIR/dbus.out")"
export DBUS_SESSION_BUS_ADDRESS=unix:path=$TPM_DIR/bus

bus_name=com.intel.tss2.Tabrmd.scepd$$
abrmd_root=()
[[ $(id -u) -ne 0 ]] || abrmd_root=(--allow-root) # it refuses root unless told
tpm2-abrmd --session "${abrmd_root[@]}" --dbus-name="$bus_name" --flush-all \
	--tcti="swtpm:host=127.0.0.1,port=$TPM_PORT" >"$TPM_DIR/abrmd.log" 2>&1 &
BACKGROUND_PIDS+=($!)
abrmd_pid=$!
# tpm2-tools and tpm2_ptool read TPM2TOOLS_TCTI, the tpm2-pkcs11 module (in the workers
# too) TPM2_PKCS11_TCTI and TPM2_PKCS11_STORE.
export TPM2TOOLS_TCTI="tabrmd:bus_name=$bus_name,bus_type=session"
export TPM2_PKCS11_TCTI=$TPM2TOOLS_TCTI TPM2_PKCS11_STORE=$TPM_DIR/store
for _ in $(seq 1 50); do
	tpm2_getcap properties-fixed >/dev/null 2>&1 && break
	kill -0 "$abrmd_pid" 2>/dev/null ||
		skip "tpm2-abrmd cannot run here: $(tail -n 2 "$TPM_DIR/abrmd.log" | tr '\n' ' ')"
	sleep 0.1
done
tpm2_getcap properties-fixed >/dev/null 2>&1 ||
	skip "tpm2-abrmd does not answer: $(tail -n 2 "$TPM_DIR/abrmd.log" | tr '\n' ' ')"
pass "swtpm on 127.0.0.1:$TPM_PORT behind tpm2-abrmd on a private bus"

# 2. The token: a store, a token with SO and user PINs, an RSA-2048 and a P-256 key.
TPM_LABEL=scepd-tpm
TPM_PIN=$(openssl rand -hex 8)
so_pin=$(openssl rand -hex 8)
(umask 077 && printf '%s' "$TPM_PIN" >"$TPM_DIR/pin" && printf '%s' "$so_pin" >"$TPM_DIR/so-pin")
ptool() { # what, then tpm2_ptool's arguments
	local what=$1
	shift
	tpm2_ptool "$@" --path "$TPM_DIR/store" >"$TPM_DIR/ptool.out" 2>&1 ||
		fail "tpm2_ptool $what: $(tail -n 3 "$TPM_DIR/ptool.out")"
}
ptool init init
ptool addtoken addtoken --pid=1 --label="$TPM_LABEL" --sopin="$so_pin" --userpin="$TPM_PIN"
ptool "addkey rsa2048" addkey --label="$TPM_LABEL" --userpin="$TPM_PIN" --algorithm=rsa2048 \
	--key-label=rsa-ca
ptool "addkey ecc256" addkey --label="$TPM_LABEL" --userpin="$TPM_PIN" --algorithm=ecc256 \
	--key-label=ec-ca
pkcs11-tool --module "$TPM_MODULE" --token-label "$TPM_LABEL" --login --pin "$TPM_PIN" \
	--list-objects >"$TPM_DIR/objects" 2>&1 || fail "pkcs11-tool: $(cat "$TPM_DIR/objects")"
grep -q "Private Key Object; RSA" "$TPM_DIR/objects" || fail "no RSA key: $(cat "$TPM_DIR/objects")"
grep -q "Private Key Object; EC" "$TPM_DIR/objects" || fail "no EC key: $(cat "$TPM_DIR/objects")"
pass "tpm2_ptool made token $TPM_LABEL with an RSA-2048 and a P-256 key"

tpm_uri() { # OBJECT
	echo "pkcs11:token=$TPM_LABEL;object=$1;type=private"
}

# 3. CA certificates signed by the token keys. The key is named by the store URI
# org.openssl.engine:pkcs11:URI, never with -engine (see the top).
cat >"$TPM_DIR/openssl.cnf" <<'EOF'
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = placeholder
[rsa_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
[ec_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[ra]
keyUsage = critical, digitalSignature, keyEncipherment
EOF
tpm_openssl() { # what, then openssl's arguments
	local what=$1
	shift
	OPENSSL_CONF=$TPM_DIR/openssl.cnf PKCS11_MODULE_PATH=$TPM_MODULE \
		openssl "$@" >"$TPM_DIR/openssl.out" 2>&1 ||
		fail "$what: $(tail -n 5 "$TPM_DIR/openssl.out")"
}
for ca in rsa-ca ec-ca; do
	tpm_openssl "CA certificate $ca" req -new -x509 -config "$TPM_DIR/openssl.cnf" \
		-extensions "${ca/-/_}" -key "org.openssl.engine:pkcs11:$(tpm_uri $ca)" \
		-passin "file:$TPM_DIR/pin" -subj "/CN=scepd TPM $ca" -sha256 -days 30 \
		-out "$TPM_DIR/$ca.pem"
	openssl verify -CAfile "$TPM_DIR/$ca.pem" "$TPM_DIR/$ca.pem" >/dev/null ||
		fail "$ca: the self-signed certificate does not verify"
done
# The P-256 CA cannot decrypt SCEP requests: an RSA RA (key file), certified by it.
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ra.key" -subj "/CN=scepd TPM RA" \
	-out "$TMP/ra.csr" 2>/dev/null
tpm_openssl "RA certificate" x509 -req -in "$TMP/ra.csr" -CA "$TPM_DIR/ec-ca.pem" \
	-CAkey "org.openssl.engine:pkcs11:$(tpm_uri ec-ca)" -passin "file:$TPM_DIR/pin" \
	-set_serial 0x5ca1ab1e -days 30 -extfile "$TPM_DIR/openssl.cnf" -extensions ra \
	-out "$TMP/ra.pem"
openssl verify -CAfile "$TPM_DIR/ec-ca.pem" "$TMP/ra.pem" >/dev/null || fail "RA does not verify"
pass "CA certificates signed in the TPM (RSA-2048, P-256), and the RA's by the P-256 key"

# 4. scepd on each CA key.
PORT=$(free_port)
url=http://127.0.0.1:$PORT
for i in $(seq 1 8); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=tpm-csr-$i" -out "$TMP/csr-$i.csr" 2>/dev/null
done

tpm_config() { # CA [RA-BLOCK]
	store_prepare
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 2; };
engine: {
	id = "dynamic";
	pre = ( ("SO_PATH", "$HSM_ENGINE_SO"),
		("ID", "pkcs11"),
		("LIST_ADD", "1"),
		("LOAD"),
		("MODULE_PATH", "$TPM_MODULE") );
	pin = "file:$TPM_DIR/pin";
};
ca: { certificate = "$TPM_DIR/$1.pem"; key = "$(tpm_uri "$1")"; };
csr: { auth = "none"; allow = [ "127.0.0.1/32" ]; };
scep: { challenge = { mode = "none"; }; ${2:-} };
$(store_config_line)
log: { level = "debug"; };
CONF
}

# check_cert CA FILE SUBJECT ENDPOINT: verifies, has the subject (RFC 2253), is on record.
check_cert() {
	local ca=$1 file=$2 subject=$3 endpoint=$4 serial
	openssl verify -CAfile "$TPM_DIR/$ca.pem" "$file" >/dev/null 2>&1 ||
		fail "$ca: $subject does not verify"
	assert_eq "subject=$subject" "$(openssl x509 -in "$file" -noout -subject -nameopt RFC2253)" \
		"$ca: subject of $file"
	serial=$(openssl x509 -in "$file" -noout -serial | cut -d= -f2 | sed 's/^0*//')
	assert_eq "$subject|$endpoint" \
		"$(store_sql "SELECT subject || '|' || endpoint FROM certificates WHERE serial = '$serial'")" \
		"$ca: store record of $subject (serial $serial)"
}

# issued_by WORKER: how many certificates that worker of generation 1 issued.
issued_by() {
	grep -c "worker $1 gen 1: info: audit: result=issued" "$TMP/scepd.log" || true
}

for ca in rsa-ca ec-ca; do
	ra_block=
	[[ $ca == ec-ca ]] && ra_block="ra = { certificate = \"$TMP/ra.pem\"; key = \"$TMP/ra.key\"; };"
	tpm_config "$ca" "$ra_block"
	"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/t.out" 2>&1 ||
		fail "$ca: scepd -t refuses the config: $(cat "$TMP/t.out")"
	: >"$TMP/scepd.log"
	start_scepd "$TMP/scepd.conf"
	for pid in $(worker_pids); do
		grep -q libtpm2_pkcs11 "/proc/$pid/maps" || fail "$ca: worker $pid has no tpm2-pkcs11"
	done
	! grep -q libtpm2_pkcs11 "/proc/$SCEPD_PID/maps" || fail "$ca: the supervisor mapped tpm2-pkcs11"

	# /csr: 8 requests at once, so that both workers sign in the TPM at the same time.
	# The kernel hands the connections to the workers; should one worker take all 8,
	# the batch runs again (at most 3 times) before the test says so.
	for round in 1 2 3; do
		pids=()
		for i in $(seq 1 8); do
			curl -s -o "$TMP/$ca-csr-$i.pem" -w '%{http_code}' --max-time 30 \
				--data-binary @"$TMP/csr-$i.csr" "$url/csr" >"$TMP/$ca-csr-$i.code" &
			pids+=($!)
		done
		wait "${pids[@]}" || true # (a bare wait would wait for swtpm too)
		for i in $(seq 1 8); do
			assert_eq 200 "$(cat "$TMP/$ca-csr-$i.code")" "$ca: POST /csr #$i (round $round)"
			check_cert "$ca" "$TMP/$ca-csr-$i.pem" "CN=tpm-csr-$i" csr
		done
		(($(issued_by 0) > 0 && $(issued_by 1) > 0)) && break
	done
	(($(issued_by 0) > 0 && $(issued_by 1) > 0)) ||
		fail "$ca: one worker issued everything (worker 0: $(issued_by 0), worker 1: $(issued_by 1))"
	pass "$ca: 8 concurrent /csr requests; 2 workers signed in the TPM ($(issued_by 0) + $(issued_by 1))"

	# SCEP with the project's client, 4 at once. RSA CA: the TPM key decrypts the
	# requests and signs the replies; P-256 CA: the RA does both, the TPM signs.
	if [[ -x "${SCEP_CLIENT:-}" ]]; then
		curl -sf -o "$TMP/$ca.bin" "$url/scep?operation=GetCACert" || fail "$ca: GetCACert"
		pids=()
		for i in 1 2 3 4; do
			(
				name=$ca-scep-$i
				"$SCEP_CLIENT" request --ca "$TMP/$ca.bin" --state "$TMP/$name.st" \
					--out "$TMP/$name.msg" --subject "/CN=tpm-scep-$i" \
					--key "$TMP/$name.key" --txid "$name" 2>"$TMP/$name.err" &&
					curl -s -o "$TMP/$name.rep" --max-time 30 --data-binary @"$TMP/$name.msg" \
						"$url/scep?operation=PKIOperation" &&
					"$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
						--out "$TMP/$name.pem" >"$TMP/$name.verdict" 2>>"$TMP/$name.err"
			) &
			pids+=($!)
		done
		wait "${pids[@]}" || true
		for i in 1 2 3 4; do
			name=$ca-scep-$i
			assert_eq SUCCESS "$(cat "$TMP/$name.verdict" 2>/dev/null)" \
				"$ca: SCEP enrolment #$i ($(cat "$TMP/$name.err"))"
			check_cert "$ca" "$TMP/$name.pem" "CN=tpm-scep-$i" scep
		done
		pass "$ca: 4 concurrent SCEP enrolments (scep_client) verify and are on record"
	fi

	# micromdm's scepclient, with the RSA CA only: it encrypts to every certificate of
	# GetCACert, and panics on the P-256 CA beside the RA (its limit, not scepd's).
	if [[ $ca == rsa-ca ]] && command -v scepclient >/dev/null; then
		mkdir -p "$TMP/scepclient"
		timeout 30 scepclient -server-url "$url/scep" -private-key "$TMP/scepclient/key.pem" \
			-certificate "$TMP/scepclient/cert.pem" -cn tpm-scepclient \
			>"$TMP/scepclient.out" 2>&1 ||
			fail "$ca: scepclient: $(tail -n 3 "$TMP/scepclient.out")"
		# (scepclient adds OU, O and C of its own)
		check_cert "$ca" "$TMP/scepclient/cert.pem" "CN=tpm-scepclient,OU=MDM,O=scep-client,C=US" scep
		pass "$ca: scepclient enrols; the TPM key decrypted its request"
	fi

	! grep -qaF "$TPM_PIN" "$TMP/scepd.log" || fail "$ca: the PIN is in the log"
	kill -TERM "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 10 || fail "$ca: scepd did not stop"
	assert_eq 0 "$EXIT_STATUS" "$ca: exit status after SIGTERM"
	SCEPD_PID=
	cp "$TMP/scepd.log" "$TMP/scepd-$ca.log"
done
