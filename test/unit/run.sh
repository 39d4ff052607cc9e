#!/bin/sh
# Builds the unit-test driver for src/distributions.c and src/thompson.c into
# test/unit/build/ and checks it against SciPy, printing TAP. Exit status is
# nonzero if anything fails. Also runs under prove:  prove test/unit/run.sh
# (Timing lives in bench/thompson.sh, not here.)
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

if ! "$python" -c 'import numpy, scipy' 2>/dev/null; then
	echo "1..0 # SKIP $python lacks numpy/scipy (apt-get install -y python3-numpy python3-scipy)"
	echo "error: $python lacks numpy/scipy" >&2
	exit 2
fi
exec "$python" "$here/check_distributions.py" "$build/dist_driver"
