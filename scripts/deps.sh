#!/usr/bin/env bash
# Installs the Debian packages xfeat builds and tests against, where missing.
# Usage: scripts/deps.sh PACKAGE...
set -euo pipefail
missing=()
for p in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "xfeat: missing Debian packages: ${missing[*]}" >&2
	echo "xfeat: run as root, or install them first: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "xfeat: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# An install from a stale or empty package list fails: refresh once, then install.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
