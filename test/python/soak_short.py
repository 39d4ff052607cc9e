#!/usr/bin/python3
"""Concurrency soak, short form (TAP): 8 clients for 5 s.

    /usr/bin/python3 test/python/soak_short.py     # against the running cluster (PGHOST, PGPORT, PGUSER)

The workload and checks of test/soak/soak.py (see its header and
test/soak/README.md) with SOAK_SECONDS = 5 in the scratch database
bandit_pytest_soak (created and dropped): 8 client processes select and
reward on seven online and batch experiments (Bernoulli and Gaussian;
thompson, exp3, epsilon_greedy, ucb1, softmax), committing, rolling back,
rolling back to savepoints, provoking 23505 and 22003, rewarding later and
through other clients, while another session runs bandit_refresh() every
second.  Then: no unexpected error or deadlock, the logs hold exactly what
the clients saw committed, the API's stats agree with the log, and after a
final bandit_refresh() every arm's posterior and ipw_sum equal the aggregate
of its reward log.  SOAK_CLIENTS, SOAK_SEED, SOAK_REFRESH_INTERVAL and
SOAK_REWARD_ORDER are read as in the soak; the duration and database are
fixed.  The soak form: bash test/soak/soak.sh (60 s).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak"))
import soak  # noqa: E402
from taplib import run_checks  # noqa: E402

if __name__ == "__main__":
    run_checks(lambda: soak.main(seconds=5, db="bandit_pytest_soak", label="soak (short)"), "soak_short.py")
