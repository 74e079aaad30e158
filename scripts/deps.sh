#!/usr/bin/env bash
# Installs the Debian 12 packages scepd needs to build, run its demo and run its tests,
# and those named as arguments (bench/run.sh adds wrk). As root it runs apt-get;
# otherwise it prints the apt-get line to run. Every other script calls it first; it
# does nothing when everything is there.
#   scripts/deps.sh [PACKAGE...]
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libmicrohttpd-dev libssl-dev libp11-dev libconfig-dev libsystemd-dev libsqlite3-dev
	libcmocka-dev libpq-dev postgresql
	libjansson-dev libcurl4-openssl-dev libcrypt-dev libgnutls28-dev
	python3 apache2-utils libjson-validator-perl libyaml-libyaml-perl jq mandoc
	libengine-pkcs11-openssl opensc softhsm2 openssl
	curl procps iproute2 systemd sqlite3 xxd scep certmonger dbus
	strongswan-pki libstrongswan-extra-plugins prometheus
	debhelper dpkg-dev fakeroot lintian
	swtpm tpm2-abrmd libtss2-tcti-tabrmd0 tpm2-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools
	"$@"
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "scepd needs these Debian packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
