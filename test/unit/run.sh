#!/bin/sh
# Builds the unit-test drivers for src/distributions.c and src/thompson.c
# (dist_driver) and for src/lints.c (lints_driver) into test/unit/build/ and
# checks them against SciPy, printing one TAP stream: check_lints.py runs
# last and merges check_distributions.py's output into its own (one plan).
# Exit status is nonzero if anything fails. Also runs under prove:
#   prove test/unit/run.sh
# (Timing lives in bench/thompson.sh, not here; check_lints.py prints the
# time per LinTS propensity as a comment.)
#
# Needs gcc and Debian's python3 with numpy and scipy
#   (apt-get install -y python3-numpy python3-scipy);
# python3-mpmath, if installed, adds a few 40-digit spot checks.
# Environment: CC (default gcc), PYTHON (default /usr/bin/python3).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$here/build"
cc=${CC:-gcc}
python=${PYTHON:-/usr/bin/python3}

mkdir -p "$build"
# PostgreSQL's warning flags; warnings are errors here
"$cc" -std=gnu99 -O2 -Wall -Wextra -Wmissing-prototypes -Wpointer-arith \
	-Wdeclaration-after-statement -Werror=vla -Wshadow -Werror \
	-I"$root/src" -o "$build/dist_driver" \
	"$here/dist_driver.c" "$root/src/distributions.c" "$root/src/thompson.c" -lm
"$cc" -std=gnu99 -O2 -Wall -Wextra -Wmissing-prototypes -Wpointer-arith \
	-Wdeclaration-after-statement -Werror=vla -Wshadow -Werror \
	-I"$root/src" -o "$build/lints_driver" \
	"$here/lints_driver.c" "$root/src/lints.c" -lm

if ! "$python" -c 'import numpy, scipy' 2>/dev/null; then
	echo "1..0 # SKIP $python lacks numpy/scipy (apt-get install -y python3-numpy python3-scipy)"
	echo "error: $python lacks numpy/scipy" >&2
	exit 2
fi
# its failures (or a crash: no plan) show up in the merged stream
"$python" "$here/check_distributions.py" "$build/dist_driver" >"$build/distributions.tap" || true
exec "$python" "$here/check_lints.py" "$build/lints_driver" --merge-tap "$build/distributions.tap"
