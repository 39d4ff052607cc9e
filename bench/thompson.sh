#!/usr/bin/env bash
# bench/thompson.sh: Thompson propensities (P(arm is the best draw)) computed
# by src/thompson.c against the same integral in NumPy/SciPy (one vectorised
# grid of 20,001 points), in one run; medians of RUNS runs, in microseconds
# per probability vector.  Needs gcc and /usr/bin/python3 with NumPy/SciPy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
work=$(mktemp -d /tmp/bandit-bench-thompson.XXXXXX)
trap 'rm -rf "$work"' EXIT

gcc -std=gnu99 -O2 -I"$root/src" -o "$work/bench_thompson" \
  "$root/bench/bench_thompson.c" "$root/src/distributions.c" "$root/src/thompson.c" -lm
for r in $(seq 1 "$RUNS"); do "$work/bench_thompson" 0.3 >> "$work/c.txt"; done
/usr/bin/python3 "$root/bench/thompson_numpy.py" "$RUNS" > "$work/numpy.txt" 2>/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo "Thompson propensities: C quadrature (src/thompson.c) vs NumPy/SciPy grid, median of $RUNS runs"
echo
printf '| %-12s | %12s | %12s | %8s |\n' layout "C (us)" "NumPy (us)" speed-up
echo '|--------------|--------------|--------------|----------|'
for case in "example k=5" "narrow k=5" "wide k=5" "narrow k=20" "wide k=20" "narrow k=100" "wide k=100"; do
  c=$(grep "^$case " "$work/c.txt" | awk '{print $4}' | median)
  n=$(grep "^$case " "$work/numpy.txt" | awk '{print $3}')
  printf '| %-12s | %12s | %12s | %7.0fx |\n' "$case" "$c" "$n" "$(awk -v c="$c" -v n="$n" 'BEGIN {print n / c}')"
done
echo
echo "NumPy's probabilities on the example (Beta(304,5014), Beta(246,4656), Beta(261,4527), Beta(42,924), Beta(180,3476)):"
grep '^example-probabilities' "$work/numpy.txt" | cut -d' ' -f2-
