#!/usr/bin/env bash
# docs/hsm.md's SoftHSM walk-through ("SoftHSM2, step by step"), run as it is written,
# so that the page and what works cannot drift apart: token, key, CA certificate,
# configuration, scepctl db migrate, scepd -t, scepd in the foreground, a certificate
# from /csr that openssl verify accepts and scepctl issued lists. Next to it: a wrong PIN
# is refused by scepd -t (exit 3), and a client outside csr.allow gets 403.
#
# How the page becomes a script (change the page, not this file, to change the steps):
# - The commands are the fenced blocks of docs/hsm.md opened with "```sh walkthrough"
#   (run in the order of the page) or "```sh walkthrough background" (scepd -f: started
#   in the background, its output in $TMP/scepd.log; the next block runs once /healthz
#   answers and every worker is ready). Other blocks (apt install, systemd) are not run.
# - Only these rewrites are made, with sed, on the text of the blocks:
#     /etc/scepd       -> $TMP/etc/scepd
#     /var/lib/scepd   -> $TMP/var/lib/scepd
#     8080 (the port)  -> a free loopback port
#     "runuser -u scepd -- " and "-o scepd -g scepd " are removed: the test runs as one
#     user, and no scepd user exists on a test machine;
#     the engine and SoftHSM paths (Debian 12 amd64, as the page writes them) become the
#     ones lib_hsm.sh finds, where they differ.
#   After the rewrites no "/etc/scepd", "/var/lib/scepd" or "runuser" may be left, and
#   the blocks may use no sudo, chown or systemctl: a step the rewrites cannot place in
#   $TMP fails the test instead of touching the machine.
# - scepd and scepctl are the build's ($SCEPD_BIN, $SCEPCTL_BIN), first on PATH.
# - All blocks run in one bash with set -euo pipefail (variables such as PIN carry over
#   from block to block, as in the operator's shell), in the scratch directory $TMP/work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

hsm_find_paths
command -v curl >/dev/null || skip "curl is not installed"
SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}
doc=$SCEPD_SOURCE_DIR/docs/hsm.md
[[ -f "$doc" ]] || fail "$doc is missing"

PORT=$(free_port)
mkdir -p "$TMP/bin" "$TMP/work" "$TMP/etc" "$TMP/var/lib"
ln -s "$SCEPD_BIN" "$TMP/bin/scepd"
ln -s "$SCEPCTL_BIN" "$TMP/bin/scepctl"

# The blocks, one file each: $TMP/block.N.sh, and $TMP/block.N.kind = fg or bg.
awk -v dir="$TMP" '
	/^```sh walkthrough( background)?$/ {
		n++; inblock = 1
		kind = ($0 ~ /background$/) ? "bg" : "fg"
		print kind > (dir "/block." n ".kind"); close(dir "/block." n ".kind")
		printf "" > (dir "/block." n ".sh")
		next
	}
	inblock && /^```$/ { inblock = 0; close(dir "/block." n ".sh"); next }
	inblock { print >> (dir "/block." n ".sh") }
	END { print n + 0 > (dir "/blocks") }
' "$doc"
blocks=$(cat "$TMP/blocks")
((blocks >= 6)) || fail "docs/hsm.md has $blocks walkthrough blocks; the walk-through lost its markers?"
[[ $(grep -lx bg "$TMP"/block.*.kind | wc -l) -eq 1 ]] ||
	fail "docs/hsm.md must have exactly one 'sh walkthrough background' block (scepd -f)"

rewrite() { # FILE: the block with the rewrites above, on stdout
	sed -e "s|/etc/scepd|$TMP/etc/scepd|g" \
		-e "s|/var/lib/scepd|$TMP/var/lib/scepd|g" \
		-e "s|\\b8080\\b|$PORT|g" \
		-e 's|runuser -u scepd -- ||g' \
		-e 's|-o scepd -g scepd ||g' \
		-e "s|/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so|$HSM_ENGINE_SO|g" \
		-e "s|/usr/lib/softhsm/libsofthsm2.so|$HSM_MODULE|g" "$1"
}

# One script of all blocks, as the operator's shell would run them.
script=$TMP/walkthrough.sh
{
	echo 'set -euo pipefail'
	echo "export PATH=$TMP/bin:\$PATH"
	echo "cd $TMP/work"
	for i in $(seq 1 "$blocks"); do
		echo "# ---- block $i ($(cat "$TMP/block.$i.kind")) ----"
		if [[ $(cat "$TMP/block.$i.kind") == fg ]]; then
			rewrite "$TMP/block.$i.sh"
		else
			# One command, started as its own process (bash -c execs it): its pid is scepd's.
			[[ $(grep -cv '^[[:space:]]*$' "$TMP/block.$i.sh") -eq 1 ]] ||
				fail "the background block must be one command line"
			printf 'bash -c %q >>%q 2>&1 &\n' "$(rewrite "$TMP/block.$i.sh")" "$TMP/scepd.log"
			echo "echo \$! >$TMP/scepd.pid"
			cat <<WAIT
for _ in \$(seq 1 150); do
	grep -q "supervisor: info: ready: generation" $TMP/scepd.log 2>/dev/null && break
	kill -0 \$(cat $TMP/scepd.pid) 2>/dev/null || { echo "scepd exited during start-up" >&2; exit 1; }
	sleep 0.1
done
curl -sf http://127.0.0.1:$PORT/healthz >/dev/null
WAIT
		fi
	done
} >"$script"

# Nothing may escape $TMP.
! grep -nE '/etc/scepd|/var/lib/scepd' <(grep -v "$TMP" "$script") ||
	fail "a path of the walk-through was not rewritten into \$TMP (above)"
! grep -nwE 'runuser|sudo|chown|chgrp|systemctl' "$script" ||
	fail "the walk-through has a command this test cannot run in \$TMP (above)"
pass "docs/hsm.md: $blocks walk-through blocks extracted and rewritten into $TMP"

if ! bash "$script" >"$TMP/walkthrough.out" 2>&1; then
	[[ -f "$TMP/scepd.pid" ]] && SCEPD_PID=$(cat "$TMP/scepd.pid")
	cat "$TMP/walkthrough.out" >&2
	fail "the walk-through of docs/hsm.md fails as written (its output is above)"
fi
SCEPD_PID=$(cat "$TMP/scepd.pid")
assert_eq scepd "$(cat "/proc/$SCEPD_PID/comm")" "the background block's process"
cp "$TMP/etc/scepd/pin" "$TMP/doc-pin" # for secrets_check: the PIN must be in no log
export SOFTHSM2_CONF=$TMP/etc/scepd/softhsm2.conf

# What the operator is told to look for.
out=$TMP/walkthrough.out
grep -qx "$TMP/etc/scepd/scepd.conf: configuration OK" "$out" ||
	fail "scepd -t did not say 'configuration OK': $(cat "$out")"
grep -q '^schema version [0-9]' "$out" || fail "scepctl db migrate did not print the schema version"
grep -qx 'host.pem: OK' "$out" || fail "openssl verify of the issued certificate"
serial=$(openssl x509 -in "$TMP/work/host.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
grep -q "^$serial	CN=host.example	" "$out" || fail "scepctl issued does not list serial $serial"
openssl x509 -in "$TMP/work/host.pem" -noout -issuer | grep -q "CN = Example CA" ||
	fail "host.pem is not issued by the walk-through's CA"
assert_eq 600 "$(stat -c %a "$TMP/etc/scepd/pin")" "mode of the PIN file"
pass "the walk-through issues a certificate that openssl verify accepts; scepctl lists it"

# A wrong PIN in the credential: scepd -t refuses it, exit 3 (do not retry), and names it.
mkdir -p "$TMP/wrong"
(umask 077 && printf '%s' 0000000000000000 >"$TMP/wrong/pin")
rc=0
CREDENTIALS_DIRECTORY=$TMP/wrong "$SCEPD_BIN" -c "$TMP/etc/scepd/scepd.conf" -t \
	>"$TMP/wrong.out" 2>&1 || rc=$?
assert_eq 3 "$rc" "scepd -t with a wrong PIN: exit status"
grep -q "engine.pin: wrong PIN" "$TMP/wrong.out" || fail "wrong PIN not named: $(cat "$TMP/wrong.out")"
pass "a wrong PIN in the credential: scepd -t exits 3 and says so"

# csr.allow of the walk-through: 127.0.0.1 gets a certificate (above), another address
# of this host does not.
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
	--data-binary @"$TMP/work/host.csr" "http://127.0.0.1:$PORT/csr" || true)
if [[ $code == 000 ]]; then
	echo "note: cannot send from 127.0.0.2 here; csr.allow not checked" >&2
else
	assert_eq 403 "$code" "/csr from 127.0.0.2, outside csr.allow"
	pass "/csr from an address outside the walk-through's csr.allow: 403"
fi

# Ctrl-C in the operator's terminal: scepd stops cleanly.
kill -INT "$SCEPD_PID"
for _ in $(seq 1 150); do
	kill -0 "$SCEPD_PID" 2>/dev/null || break
	sleep 0.1
done
! kill -0 "$SCEPD_PID" 2>/dev/null || fail "scepd did not stop on SIGINT within 15 s"
SCEPD_PID=
! grep -E ' (error|crit|alert|emerg): ' "$TMP/scepd.log" || fail "scepd logged errors (above)"
pass "scepd -f stops on Ctrl-C (SIGINT) without errors"
