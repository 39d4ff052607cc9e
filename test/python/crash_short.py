#!/usr/bin/python3
"""Crash recovery, short form (TAP): one SIGKILL of the whole server under load.

    /usr/bin/python3 test/python/crash_short.py    # as root (or any user that can run initdb)

test/soak/crash.py (see its header and test/soak/README.md) with
CRASH_KILLS = 1 and CRASH_SECONDS = 3: a throwaway cluster of its own
(initdb into /var/tmp/bandit-crash.XXXXXX, socket only, port CRASH_PORT =
5497, fsync and synchronous_commit on; the shared cluster is not touched),
the workload of test/soak/soak.py for 1.5 to 4.5 s, then the postmaster and
all its children frozen (SIGSTOP) and killed (SIGKILL), a restart that must
run crash recovery, and the checks: every decision and reward whose commit a
client saw is there, nothing rolled back or uncommitted is, in-doubt commits
are all or nothing, pending rewards match their rewards, the API's stats
agree with the log, after bandit_refresh() the posteriors and ipw_sum equal
the aggregates of the log, and amcheck passes on the bandit tables' indexes.
The cluster is removed afterwards.  CRASH_CLIENTS, CRASH_SEED, CRASH_PORT and
CRASH_REFRESH_INTERVAL are read as in the soak; the number of kills and the
duration are fixed.  About 15 s.  The soak form: bash test/soak/crash.sh.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak"))
import crash  # noqa: E402
from taplib import run_checks  # noqa: E402

if __name__ == "__main__":
    run_checks(lambda: crash.main(kills=1, seconds=3, label="crash (short)"), "crash_short.py")
