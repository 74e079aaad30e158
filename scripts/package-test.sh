#!/usr/bin/env bash
# package-test.sh - the Debian package, end to end, as root on Debian 12 (CI: .ci/run).
#
#   1. builds scepd_*.deb with dpkg-buildpackage from a copy of this checkout in a
#      temporary directory (the checkout and its build directories stay untouched;
#      no tests in the package build), and fails on any lintian error;
#   2. installs it with `apt-get install ./scepd_*.deb` and checks what the package
#      promises: the binaries, the scepd user, /var/lib/scepd (0750 scepd:scepd),
#      /etc/scepd/scepd.conf as a conffile, the units installed but not enabled, the
#      docs, and the man pages when the sources install them;
#   3. makes the demo token that the installed /etc/scepd/scepd.conf expects, as
#      docs/hsm.md does it (a private SoftHSM token directory, every token write as
#      the scepd user): token "scepd" with the key "ca", the PIN in /etc/scepd/pin,
#      the CA certificate in /etc/scepd/ca-chain.pem; then runs
#      `scepd -c /etc/scepd/scepd.conf -t` as scepd, with the PIN handed over as
#      systemd's LoadCredential= would, and `systemd-analyze verify` on the units;
#   4. removes and purges the package and checks that nothing of it is left but
#      what the package documents: the scepd user and group stay (Debian never
#      deletes system accounts), /var/lib/scepd stays only when it is not empty.
#
# It refuses to run when scepd is installed or /etc/scepd or /var/lib/scepd exists:
# it would purge them. Nothing on this machine is needed afterwards; on failure it
# cleans up too (the package is purged, the demo files removed).
#   scripts/package-test.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

die() {
	echo "package-test.sh: FAIL: $*" >&2
	exit 1
}
ok() {
	echo "package-test.sh: ok: $*"
}

[[ $(id -u) -eq 0 ]] || die "run as root (it installs and purges the package)"
"$top/scripts/deps.sh"
if dpkg-query -W -f='${Status}' scepd 2>/dev/null | grep -q 'installed'; then
	die "the scepd package is installed on this machine; this test would purge it"
fi
for d in /etc/scepd /var/lib/scepd; do
	[[ ! -e $d ]] || die "$d exists; this test would remove it (move it away first)"
done

readonly module_so=/usr/lib/softhsm/libsofthsm2.so
readonly dropin=/etc/systemd/system/scepd.service.d/softhsm.conf
[[ -f $module_so ]] || die "$module_so missing (apt install softhsm2)"

work=$(mktemp -d /tmp/scepd-package.XXXXXX)
installed=no
scepd_pid=
cleanup() {
	local rc=$?
	set +e
	if [[ -n $scepd_pid ]] && kill -TERM "$scepd_pid" 2>/dev/null; then
		wait "$scepd_pid"
	fi
	if [[ $installed == yes ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q scepd >/dev/null 2>&1
	fi
	rm -rf /var/lib/scepd/tokens /var/lib/scepd/scepd.db /var/lib/scepd/scepd.db-wal \
		/var/lib/scepd/scepd.db-shm
	rmdir /var/lib/scepd 2>/dev/null
	rm -f /etc/scepd/pin /etc/scepd/ca-chain.pem /etc/scepd/softhsm2.conf "$dropin"
	rmdir "$(dirname "$dropin")" /etc/scepd 2>/dev/null
	rm -rf "$work"
	[[ $rc -eq 0 ]] || echo "package-test.sh: failed; the package is purged again" >&2
	exit $rc
}
trap cleanup EXIT

# --- 1. Build, out of tree -------------------------------------------------------
version=$(sed -n 's/^project(scepd VERSION \([0-9.]*\) .*/\1/p' "$top/CMakeLists.txt")
[[ -n $version ]] || die "no project version in CMakeLists.txt"
changelog_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
[[ $changelog_version == "$version" ]] ||
	die "debian/changelog says $changelog_version, CMakeLists.txt $version"

src=$work/scepd-$version
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked and new files, as they are now (uncommitted changes included).
	(cd "$top" && git ls-files -z -c -o --exclude-standard | xargs -0 -r tar -cf - --) |
		tar -xf - -C "$src"
else
	tar -C "$top" --exclude='./build' --exclude='./build-*' --exclude='./demo' -cf - . |
		tar -xf - -C "$src"
fi
(cd "$src" && dpkg-checkbuilddeps) || die "build dependencies missing (scripts/deps.sh)"
echo "package-test.sh: building scepd $version in $src"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	die "dpkg-buildpackage failed"
}
deb=$work/scepd_${version}_$(dpkg --print-architecture).deb
[[ -f $deb ]] || die "no $deb after the build"
ok "built $(basename "$deb")"

# Errors fail; warnings and the rest are printed for whoever reads the log.
lintian_rc=0
lintian --fail-on error "$work"/scepd_*.changes >"$work/lintian.log" 2>&1 || lintian_rc=$?
grep -v '^running with root' "$work/lintian.log" || true
[[ $lintian_rc -eq 0 ]] || die "lintian found errors (exit $lintian_rc)"
ok "lintian: no errors"

# --- 2. Install -----------------------------------------------------------------------
installed=yes
(cd "$work" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$(basename "$deb")") \
	>"$work/install.log" 2>&1 || {
	cat "$work/install.log" >&2
	die "apt-get install ./$(basename "$deb") failed"
}
dpkg -L scepd | sort >"$work/files"
ok "installed"

for f in /usr/sbin/scepd /usr/sbin/scepctl; do
	[[ -x $f ]] || die "$f missing"
done
[[ $(/usr/sbin/scepd --version) == "scepd $version" ]] || die "scepd --version"
[[ $(/usr/sbin/scepctl --version) == "scepctl $version" ]] || die "scepctl --version"

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd scepd) || die "no user scepd"
[[ $uid -lt 1000 ]] || die "scepd is not a system user (uid $uid)"
[[ $home == /var/lib/scepd ]] || die "scepd's home is $home"
[[ $shell == /usr/sbin/nologin ]] || die "scepd's shell is $shell"
getent group scepd >/dev/null || die "no group scepd"
[[ $(id -gn scepd) == scepd ]] || die "scepd's primary group is $(id -gn scepd)"
ok "system user scepd (uid $uid, no login)"

[[ $(stat -c '%F %a %U %G' /var/lib/scepd) == "directory 750 scepd scepd" ]] ||
	die "/var/lib/scepd is $(stat -c '%F %a %U %G' /var/lib/scepd)"
ok "/var/lib/scepd 0750 scepd:scepd"

dpkg-query -W -f='${Conffiles}\n' scepd | grep -q '^ /etc/scepd/scepd.conf ' ||
	die "/etc/scepd/scepd.conf is not a conffile"
# The same file, with the host's multiarch directory for x86_64's (debian/rules).
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
sed "s|/usr/lib/x86_64-linux-gnu/|/usr/lib/$multiarch/|g" "$top/conf/scepd.conf" |
	cmp -s - /etc/scepd/scepd.conf ||
	die "/etc/scepd/scepd.conf differs from conf/scepd.conf"
[[ $(stat -c '%a %U' /etc/scepd/scepd.conf) == "644 root" ]] || die "scepd.conf mode/owner"
ok "/etc/scepd/scepd.conf is a conffile"

for u in scepd.service scepd.socket; do
	[[ -f /lib/systemd/system/$u ]] || die "/lib/systemd/system/$u missing"
	state=$(systemctl is-enabled "$u" 2>/dev/null || true)
	[[ $state == disabled ]] || die "$u is \"$state\" after installation, not disabled"
done
ok "units installed, not enabled"

for f in README.md.gz operations.md.gz configuration.md.gz hsm.md.gz copyright; do
	[[ -f /usr/share/doc/scepd/$f ]] || die "/usr/share/doc/scepd/$f missing"
done
ok "docs in /usr/share/doc/scepd"

# The man pages, once the sources install them (`cmake --install` into share/man).
if grep -Eq 'CMAKE_INSTALL_MANDIR|share/man' "$top/CMakeLists.txt"; then
	for m in man8/scepd.8 man8/scepctl.8 man5/scepd.conf.5; do
		[[ -f /usr/share/man/$m.gz ]] || die "/usr/share/man/$m.gz missing"
	done
	ok "man pages"
else
	echo "package-test.sh: skip: the sources install no man pages yet"
fi

# --- 3. A demo token where the installed configuration expects it ------------------
# docs/hsm.md, "Under systemd", private token directory: the token is made as scepd,
# so its files are scepd's (0600); root only writes the files in /etc/scepd.
install -d -o scepd -g scepd -m 0700 /var/lib/scepd/tokens
printf '%s\n' 'directories.tokendir = /var/lib/scepd/tokens' 'objectstore.backend = file' \
	'log.level = ERROR' 'slots.removable = false' >/etc/scepd/softhsm2.conf
chmod 0644 /etc/scepd/softhsm2.conf
(
	umask 077
	openssl rand -hex 8 | tr -d '\n' >/etc/scepd/pin
)
so_pin=$(openssl rand -hex 8)
# Runs a command as scepd, in / and with only the environment given. setpriv executes
# the command in place (runuser would fork), so that $! of a backgrounded
# "${as_scepd[@]}" is the command's own process id.
as_scepd=(setpriv --reuid=scepd --regid=scepd --init-groups --reset-env
	env --chdir=/ SOFTHSM2_CONF=/etc/scepd/softhsm2.conf PKCS11_MODULE_PATH="$module_so")
# XXX: softhsm2-util and pkcs11-tool take PINs as arguments only (see demo-ca.sh).
"${as_scepd[@]}" softhsm2-util --init-token --free --label scepd --so-pin "$so_pin" \
	--pin "$(cat /etc/scepd/pin)" >/dev/null
"${as_scepd[@]}" pkcs11-tool --module "$module_so" --token-label scepd --login \
	--pin "$(cat /etc/scepd/pin)" --keypairgen --key-type rsa:2048 --label ca --id 01 \
	--usage-sign --usage-decrypt >/dev/null
install -d -m 0755 "$work/pub"
cat >"$work/pub/openssl.cnf" <<'EOF'
[req]
distinguished_name = req_dn
x509_extensions = v3_ca
prompt = no
[req_dn]
CN = scepd package test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
EOF
chmod 0644 "$work/pub/openssl.cnf"
chmod 0711 "$work"
# The PIN reaches openssl (as scepd) on a descriptor that root opened.
"${as_scepd[@]}" OPENSSL_CONF="$work/pub/openssl.cnf" openssl req -new -x509 \
	-config "$work/pub/openssl.cnf" -engine pkcs11 -keyform engine \
	-key "pkcs11:token=scepd;object=ca;type=private" -passin fd:3 -sha256 -days 30 \
	3</etc/scepd/pin >/etc/scepd/ca-chain.pem 2>"$work/req.err" || {
	cat "$work/req.err" >&2
	die "could not make the CA certificate with the token key"
}
chmod 0644 /etc/scepd/ca-chain.pem
# The unit gets the token directory's configuration from a drop-in (docs/hsm.md).
mkdir -p "$(dirname "$dropin")"
printf '[Service]\nEnvironment=SOFTHSM2_CONF=/etc/scepd/softhsm2.conf\n' >"$dropin"
ok "demo token \"scepd\", /etc/scepd/pin, /etc/scepd/ca-chain.pem"

# What LoadCredential=pin:/etc/scepd/pin does: a private copy for the service user.
# (docs/operations.md checks with systemd-run, which needs systemd as PID 1; a CI
# container has none.)
creds=$work/credentials
install -d -o scepd -g scepd -m 0700 "$creds"
install -o scepd -g scepd -m 0400 /etc/scepd/pin "$creds/pin"
"${as_scepd[@]}" CREDENTIALS_DIRECTORY="$creds" /usr/sbin/scepd -c /etc/scepd/scepd.conf -t \
	>"$work/check.log" 2>&1 || {
	cat "$work/check.log" >&2
	die "scepd -c /etc/scepd/scepd.conf -t failed"
}
ok "scepd -c /etc/scepd/scepd.conf -t"
# The check logs in to the token: with a wrong PIN it fails, and says so without
# the PIN.
bad=$work/bad-credentials
install -d -o scepd -g scepd -m 0700 "$bad"
printf '%s' 00000000 >"$bad/pin"
chown scepd:scepd "$bad/pin"
if "${as_scepd[@]}" CREDENTIALS_DIRECTORY="$bad" /usr/sbin/scepd -c /etc/scepd/scepd.conf -t \
	>"$work/bad.log" 2>&1; then
	die "scepd -t passed with a wrong PIN"
fi
! grep -qF -e "$(cat /etc/scepd/pin)" -e 00000000 "$work/check.log" "$work/bad.log" ||
	die "a PIN reached scepd -t's output"
ok "scepd -t with a wrong PIN fails: $(grep -m 1 -i pin "$work/bad.log" || tail -n 1 "$work/bad.log")"

# Then the daemon itself on the installed configuration (127.0.0.1:8080), as scepd:
# GetCACert must hand out the certificate made above; scepctl reads its store.
if ss -Hltn 'sport = :8080' | grep -q .; then
	echo "package-test.sh: skip: port 8080 is taken, scepd not started"
else
	"${as_scepd[@]}" CREDENTIALS_DIRECTORY="$creds" /usr/sbin/scepd -c /etc/scepd/scepd.conf -f \
		>"$work/scepd.log" 2>&1 &
	scepd_pid=$!
	for _ in $(seq 1 100); do
		curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break
		kill -0 "$scepd_pid" 2>/dev/null || break
		sleep 0.1
	done
	curl -sf -o "$work/getcacert.der" 'http://127.0.0.1:8080/scep?operation=GetCACert' || {
		cat "$work/scepd.log" >&2
		die "scepd -f on /etc/scepd/scepd.conf: no GetCACert answer"
	}
	kill -TERM "$scepd_pid"
	wait "$scepd_pid" || die "scepd did not stop cleanly on SIGTERM: $(tail -n 5 "$work/scepd.log")"
	scepd_pid=
	cmp -s <(openssl x509 -inform DER -in "$work/getcacert.der" -outform DER) \
		<(openssl x509 -in /etc/scepd/ca-chain.pem -outform DER) ||
		die "GetCACert did not answer /etc/scepd/ca-chain.pem"
	ok "scepd -f as scepd answers GetCACert with the token's CA"
	"${as_scepd[@]}" CREDENTIALS_DIRECTORY="$creds" /usr/sbin/scepctl -c /etc/scepd/scepd.conf \
		pending >"$work/scepctl.log" 2>&1 || {
		cat "$work/scepctl.log" >&2
		die "scepctl -c /etc/scepd/scepd.conf pending failed (as scepd)"
	}
	ok "scepctl pending as scepd"
fi

# systemd-analyze verify loads the units offline: it needs no systemd as PID 1 (it
# works in a container). It checks the syntax, the binaries and the units named.
systemd-analyze verify /lib/systemd/system/scepd.service /lib/systemd/system/scepd.socket \
	>"$work/verify.log" 2>&1 || {
	cat "$work/verify.log" >&2
	die "systemd-analyze verify"
}
if grep -i 'scepd' "$work/verify.log"; then
	die "systemd-analyze verify complains about the scepd units"
fi
ok "systemd-analyze verify scepd.service scepd.socket"

# --- 4. Remove, then purge ----------------------------------------------------------
# The demo's files are the operator's, not the package's: take them away first, so
# that the purge below must leave nothing.
rm -rf /var/lib/scepd/tokens /var/lib/scepd/scepd.db /var/lib/scepd/scepd.db-wal \
	/var/lib/scepd/scepd.db-shm
rm -f /etc/scepd/pin /etc/scepd/ca-chain.pem /etc/scepd/softhsm2.conf "$dropin"
rmdir "$(dirname "$dropin")"

DEBIAN_FRONTEND=noninteractive apt-get remove -y -q scepd >"$work/remove.log" 2>&1 || {
	cat "$work/remove.log" >&2
	die "apt-get remove scepd"
}
[[ ! -e /usr/sbin/scepd ]] || die "/usr/sbin/scepd left after remove"
[[ -f /etc/scepd/scepd.conf ]] || die "remove took the conffile"
ok "removed (conffile kept)"

# A file of the operator's in /var/lib/scepd keeps the directory through a purge.
touch /var/lib/scepd/keep
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q scepd >"$work/purge.log" 2>&1 || {
	cat "$work/purge.log" >&2
	die "apt-get purge scepd"
}
[[ -f /var/lib/scepd/keep ]] || die "purge deleted an operator's file in /var/lib/scepd"
rm /var/lib/scepd/keep
rmdir /var/lib/scepd
installed=no
status=$(dpkg-query -W -f='${Status}' scepd 2>/dev/null || true)
[[ -z $status || $status == *not-installed ]] || die "scepd is \"$status\" after purge"

# Reinstall and purge again: now /var/lib/scepd is empty and must go too.
installed=yes
(cd "$work" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$(basename "$deb")") \
	>>"$work/install.log" 2>&1 || die "second apt-get install"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q scepd >>"$work/purge.log" 2>&1 ||
	die "second apt-get purge scepd"
installed=no

left=()
while read -r f; do
	case $f in
	# Directories shared with other packages.
	/. | /etc | /lib | /lib/systemd | /lib/systemd/system | /usr | /usr/lib | /usr/sbin | \
		/usr/share | /usr/share/doc | /usr/share/man | /usr/share/man/man? | \
		/usr/lib/sysusers.d | /usr/lib/tmpfiles.d) ;;
	*) [[ ! -e $f && ! -L $f ]] || left+=("$f") ;;
	esac
done <"$work/files"
for f in /etc/scepd /var/lib/scepd /etc/systemd/system/multi-user.target.wants/scepd.service \
	/etc/systemd/system/sockets.target.wants/scepd.socket; do
	[[ ! -e $f ]] || left+=("$f")
done
compgen -G '/var/lib/systemd/deb-systemd-helper-*/*scepd*' >/dev/null &&
	left+=(/var/lib/systemd/deb-systemd-helper-*/*scepd*)
[[ ${#left[@]} -eq 0 ]] || die "left after purge: ${left[*]}"
getent passwd scepd >/dev/null || die "purge deleted the scepd user (it should stay)"
ok "purged: nothing left but the scepd user and group (documented)"
echo "package-test.sh: PASS"
