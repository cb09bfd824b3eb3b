#!/bin/sh
# check-systemd.sh BINDIR: run `systemd-analyze verify` on every unit of
# deploy/systemd, and fail on any complaint, warnings included (verify
# itself exits 0 on unknown keys).
#
# verify wants the ExecStart binaries to exist, so the units are checked
# from a temporary copy whose /opt/jobogfamilie/bin/ is BINDIR (what `make
# build` made); a binary that is not built and nats-server, if not
# installed, are stood in for by /bin/true, and said so.
set -eu
bindir=$(cd "${1:?usage: check-systemd.sh BINDIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "deploy-check: systemd-analyze not found; systemd units not verified"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
natsserver=$(command -v nats-server || true)
if [ -z "$natsserver" ]; then
	echo "deploy-check: nats-server not installed; its unit is verified with /bin/true in its place"
	natsserver=/bin/true
fi
for unit in "$here"/systemd/*.service; do
	name=$(basename "$unit")
	case "$name" in
	*@.service) name=$(echo "$name" | sed 's/@\.service$/@nats-1.service/') ;;
	esac
	bin=$(sed -n 's|^ExecStart=/opt/jobogfamilie/bin/\([a-z]*\).*|\1|p' "$unit")
	exe=/bin/true
	if [ -n "$bin" ]; then
		if [ -x "$bindir/$bin" ]; then
			exe="$bindir/$bin"
		else
			echo "deploy-check: $bindir/$bin not built; $name is verified with /bin/true in its place"
		fi
	fi
	sed -e "s|/opt/jobogfamilie/bin/[a-z]*|$exe|" -e "s|/usr/local/bin/nats-server|$natsserver|" "$unit" >"$tmp/$name"
done
status=0
for unit in "$tmp"/*.service; do
	out=$(systemd-analyze verify "$unit" 2>&1) || status=1
	if [ -n "$out" ]; then
		echo "$out"
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo "deploy-check: systemd-analyze verify complained"
	exit 1
fi
# The exposure score of each service (0 is best, 10 worst); fail above 2.5,
# so that a hardening line removed by mistake is noticed.
for unit in "$tmp"/*.service; do
	systemd-analyze security --offline=true --threshold=25 "$unit" >"$tmp/security.out" 2>&1 || {
		cat "$tmp/security.out"
		echo "deploy-check: $(basename "$unit") is exposed above 2.5"
		exit 1
	}
	printf '  %-40s %s\n' "$(basename "$unit")" "$(tail -n 1 "$tmp/security.out" | sed 's/.*exposure level for [^:]*: *//')"
done
echo "deploy-check: systemd units verified"
