#!/bin/sh
# The image's entrypoint: run the program named by the first argument, one
# of JF_BINARIES, with the remaining arguments; exec, so that it receives
# docker's signals itself and stops gracefully.
set -eu
bin="${JF_BIN_DIR:-/opt/jobogfamilie/bin}"
prog="${1:-standalone}"
[ "$#" -gt 0 ] && shift
case " ${JF_BINARIES} " in
*" ${prog} "*)
	if [ ! -x "${bin}/${prog}" ]; then
		echo "jobogfamilie: ${prog} is not in this image (services/cmd/${prog} did not exist when it was built)" >&2
		exit 127
	fi
	exec "${bin}/${prog}" "$@"
	;;
esac
echo "usage: <program> [flags], where <program> is one of: ${JF_BINARIES}" >&2
exit 64
