#!/usr/bin/env bash
# secrets_check.sh EVIDENCE_DIR - runs after the whole integration suite (ctest fixture
# "evidence"): every test left its logs, stores, secrets and file modes there (lib.sh
# save_evidence). Fails when any log or store holds a PIN, a challenge, a private key
# (its PEM header or a line of its base64), when a store file scepd made is not 0600,
# or when any core file was written. Exit 77 when no test left evidence.
set -euo pipefail
evidence=${1:?usage: secrets_check.sh EVIDENCE_DIR}
[[ -d "$evidence" ]] || { echo "SKIP: secrets_check: no evidence in $evidence" >&2; exit 77; }

tests=0 files=0 secrets=0 failed=0
problem() {
	echo "FAIL: secrets_check: $*" >&2
	failed=$((failed + 1))
}

for dir in "$evidence"/*/; do
	test=$(basename "$dir")
	tests=$((tests + 1))
	n=$(grep -c . "$dir/secrets" 2>/dev/null || true)
	secrets=$((secrets + n))
	for f in "$dir"files/*; do
		[[ -f "$f" ]] || continue
		files=$((files + 1))
		name=$(basename "$f")
		if grep -qa -e '-----BEGIN [A-Z ]*PRIVATE KEY-----' "$f"; then
			problem "$test: $name holds a PEM private key"
		fi
		if [[ -s "$dir/secrets" ]] && grep -qaF -f "$dir/secrets" "$f"; then
			problem "$test: $name holds a PIN, a challenge or a line of a private key"
		fi
	done
	while read -r mode path; do
		case "$path" in
		*.db | *.db-wal | *.db-journal)
			[[ "$mode" == 600 ]] || problem "$test: $path has mode $mode, not 600" ;;
		core | */core | core.* | */core.*) problem "$test: a core file was written: $path" ;;
		esac
	done < <(cat "$dir/modes" 2>/dev/null || true)
done
[[ $tests -gt 0 ]] || { echo "SKIP: secrets_check: no test left evidence" >&2; exit 77; }
[[ $failed -eq 0 ]] || exit 1
echo "ok: secrets_check: $files logs and stores of $tests tests hold none of $secrets secrets; store files 0600; no core file"
