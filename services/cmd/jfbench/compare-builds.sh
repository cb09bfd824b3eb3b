#!/bin/sh
# compare-builds.sh BASE [ROUNDS] [jfbench flags]: runs jfbench's ingest phase of
# the build at commit BASE and of the work tree alternately, ROUNDS times each
# (old first), and prints each run's batch and single-event throughput,
# single-event p99 and ingest ÷ forwarder ratios, then new ÷ old for each
# round. The machine's speed drifts: only runs taken alternately, as here,
# compare two builds.
set -eu
base=${1:?usage: compare-builds.sh BASE [ROUNDS] [jfbench flags]}
rounds=${2:-3}
shift
[ $# -gt 0 ] && shift
flags=${*:--preload 200000 -raw 100000 -batch-requests 1000 -single 20000}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
(cd "$tmp/base/services" && go build -o "$tmp/old" ./cmd/jfbench)
(cd "$root/services" && go build -o "$tmp/new" ./cmd/jfbench)
echo "old: $(git -C "$root" rev-parse --short "$base"), new: the work tree; jfbench -phases ingest $flags"
for i in $(seq "$rounds"); do
	for b in old new; do
		out="$tmp/$b-$i.txt"
		# shellcheck disable=SC2086
		"$tmp/$b" -phases ingest $flags >"$out"
		batch=$(sed -n 's/^batch ingest[^:]*: \([0-9]*\) events\/s.*/\1/p' "$out")
		single=$(sed -n 's/^single events[^:]*: \([0-9]*\) events\/s.*/\1/p' "$out")
		p99=$(sed -n "s/^single-event latency:.*, p99 \([^ ]*\) (.*/\1/p" "$out")
		fwd=$(sed -n 's/^peer forwarder.*ingest \/ forwarder = \([0-9.]*\).*/\1/p' "$out" | tr '\n' ' ')
		echo "round $i $b: batch ${batch:-?} events/s, single ${single:-?} events/s, single p99 ${p99:-?}; ingest / forwarder (batch, single): ${fwd:-?}"
		echo "$i $b ${batch:-0} ${single:-0}" >>"$tmp/all"
	done
done
awk '$2 == "old" { ob[$1] = $3; os[$1] = $4 }
     $2 == "new" { nb[$1] = $3; ns[$1] = $4 }
     END { for (i = 1; i in nb; i++) if (ob[i] > 0 && os[i] > 0) {
             printf "round %d new / old: batch %.2f x, single %.2f x\n", i, nb[i] / ob[i], ns[i] / os[i]
             sb += nb[i] / ob[i]; ss += ns[i] / os[i]; n++ }
           if (n) printf "mean of %d rounds, new / old: batch %.2f x, single %.2f x\n", n, sb / n, ss / n }' "$tmp/all"
