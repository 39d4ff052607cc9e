#!/usr/bin/python3
"""Concurrency soak: many clients select and reward while refresh runs (TAP).

    /usr/bin/python3 test/soak/soak.py                  # 8 clients, 60 s, against a running cluster
    SOAK_SECONDS=600 /usr/bin/python3 test/soak/soak.py # longer
    bash test/soak/soak.sh                              # the same, starting (or reusing) the cluster first

scripts/test.sh runs the short form, test/python/soak_short.py (5 s, database
bandit_pytest_soak).  test/soak/crash.py uses this file's workload and checks
against a throwaway cluster whose server it kills.

The workload.  SOAK_CLIENTS client processes (multiprocessing, each with its
own connection) run transactions against seven experiments with the default
priors (so that beta_posterior_agg / normal_posterior_agg over the reward log
must reproduce their posteriors):

  soak_hot       thompson        bernoulli online  5 arms  (in 70% of the fresh transactions of every client)
  soak_gauss_ts  thompson        gaussian  online  4 arms
  soak_exp3      exp3            bernoulli online  3 arms  (ipw_sum drives the policy)
  soak_eg_gauss  epsilon_greedy  gaussian  online  3 arms
  soak_eg_batch  epsilon_greedy  bernoulli batch   3 arms
  soak_ucb_batch ucb1            bernoulli batch   4 arms
  soak_sm_gauss  softmax         gaussian  batch   3 arms

Transactions (each client draws one at a time until the deadline):

  inline     1-3 selects, most of them rewarded in the same transaction; commit
  decide     1-2 selects, committed; rewarded later by this client (delayed) or
             handed to another client through a shared queue
  delayed    1-4 earlier decisions (own or handed over) rewarded; commit
  rollback   selects and rewards (fresh and delayed), then ROLLBACK
  savepoint  select A; SAVEPOINT; select B, reward B (and a delayed one);
             ROLLBACK TO SAVEPOINT; reward A; commit: only A and its reward stay
  duplicate  select + reward, then a second reward of an already rewarded
             decision: 23505 (expected), ROLLBACK: nothing of it stays
  badreward  select a Bernoulli arm; SAVEPOINT; reward 1.5: 22003 (expected);
             ROLLBACK TO SAVEPOINT; reward a valid value; commit

Rewards: Bernoulli 0/1 with a rate per arm, or (one in five) a random fraction
in [0, 1]; Gaussian N(3 + arm/2, 1).  Within a transaction the online rewards
are made in (experiment id, arm id) order (SOAK_REWARD_ORDER=random shuffles
them: two transactions can then lock two arms in opposite orders, an
application deadlock, and 40P01 is counted as expected).  Meanwhile a separate
session runs SELECT bandit_refresh() every SOAK_REFRESH_INTERVAL seconds (1)
and bandit_arm_stats of one experiment after each.

Every client records what it saw: decisions and rewards whose COMMIT returned,
decisions and rewards rolled back (ROLLBACK, ROLLBACK TO SAVEPOINT, an error),
transactions whose COMMIT was in flight when the connection was lost (in doubt:
all or nothing), errors by SQLSTATE, and call latencies.

The checks (after the load):
  * no unexpected error (anything but the deliberate 23505 and 22003, counted
    by SQLSTATE), no deadlock (40P01), no lost connection, the same backend pid
    for every client from start to end, the postmaster not restarted;
  * the refresh session: no error, no WARNING (experiment not refreshed);
  * the decision log holds exactly the decisions the clients saw committed
    (experiment, arm and propensity as returned), none rolled back;
  * the reward log holds exactly the rewards the clients saw committed, each
    once, with the value sent and the decision's experiment and arm, none
    rolled back; every reward has its decision;
  * every pending reward (before the final refresh) belongs to a batch
    experiment, has its reward row with the same arm and value, and the
    decision's propensity;
  * before the final refresh, through the API: bandit_arm_stats's pulls,
    rewarded and reward_sum equal the client records, and ci_low, ci_high and
    prob_best equal posterior_interval / posterior_prob_best of the aggregate
    of the folded log (online: every reward; batch: those not pending);
  * batch experiments before the final refresh: bandit.arm's posterior equals
    the aggregate of the log minus the pending rewards;
  * after a final SELECT bandit_refresh() (no WARNING): nothing pending, and
    for every arm bandit.arm.beta / .normal equals beta_posterior_agg /
    normal_posterior_agg over its rows of bandit.reward (n exactly, the
    other fields to 1e-9 relative) and ipw_sum equals the sum of
    reward / propensity over them (1e-9 relative).
Figures (transactions, selects and rewards per second by mode, latencies,
refreshes, errors by SQLSTATE) are printed as TAP comments.

Environment: SOAK_SECONDS (60), SOAK_CLIENTS (8), SOAK_DB (bandit_soak;
created and dropped), SOAK_SEED (from the clock, printed), SOAK_REFRESH_INTERVAL
(1.0), SOAK_REWARD_ORDER (sorted | random), SOAK_KEEP (0; 1 keeps the
database), and the libpq variables PGHOST, PGPORT, PGUSER (a superuser: the
checks read the tables in schema bandit).  Exit status 0 only if every check
passed.
"""
import collections
import json
import math
import multiprocessing
import os
import queue
import random
import re
import sys
import time
import traceback

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "python", "lib"))
from taplib import Tap, run_checks  # noqa: E402

# name, policy, reward type, update mode, arms, extra params
EXPERIMENTS = [
    ("soak_hot", "thompson", "bernoulli", "online", 5, {}),
    ("soak_gauss_ts", "thompson", "gaussian", "online", 4, {}),
    ("soak_exp3", "exp3", "bernoulli", "online", 3, {"gamma": 0.2}),
    ("soak_eg_gauss", "epsilon_greedy", "gaussian", "online", 3, {"epsilon": 0.2}),
    ("soak_eg_batch", "epsilon_greedy", "bernoulli", "batch", 3, {"epsilon": 0.2}),
    ("soak_ucb_batch", "ucb1", "bernoulli", "batch", 4, {}),
    ("soak_sm_gauss", "softmax", "gaussian", "batch", 3, {"temperature": 0.5}),
]
EXP = {e[0]: {"idx": i, "policy": e[1], "type": e[2], "mode": e[3], "arms": [f"arm{j}" for j in range(1, e[4] + 1)]}
       for i, e in enumerate(EXPERIMENTS)}
HOT = "soak_hot"
OTHERS = [e[0] for e in EXPERIMENTS if e[0] != HOT]
TX_KINDS = [("inline", 0.36), ("decide", 0.14), ("delayed", 0.22), ("rollback", 0.10),
            ("savepoint", 0.08), ("duplicate", 0.05), ("badreward", 0.05)]


def create_experiments(conn):
    cur = conn.cursor()
    for name, policy, rtype, mode, narms, extra in EXPERIMENTS:
        params = dict(extra, reward_type=rtype, update=mode)
        cur.execute("SELECT bandit_create(%s, %s, %s, %s)",
                    (name, EXP[name]["arms"], policy, json.dumps(params)))


def draw_reward(rng, exp, arm):
    j = EXP[exp]["arms"].index(arm)
    if EXP[exp]["type"] == "bernoulli":
        if rng.random() < 0.2:
            return rng.random()
        return 1.0 if rng.random() < 0.15 + 0.12 * j else 0.0
    return rng.gauss(3.0 + 0.5 * j, 1.0)


def order_key(item):
    # (experiment id, arm id): experiments are created in list order, arms in array order
    _, exp, arm = item[:3]
    return (EXP[exp]["idx"], EXP[exp]["arms"].index(arm))


class Lost(Exception):
    """The connection to the server is gone."""


class Effects:
    """What one transaction did: kept until commit, or rolled back."""

    def __init__(self, kind):
        self.kind = kind
        self.decisions = {}        # id -> (experiment, arm, propensity)
        self.rewards = {}          # id -> reward
        self.rb_decisions = set()  # undone by ROLLBACK TO SAVEPOINT
        self.rb_rewards = set()
        self.delayed_used = []     # delayed items whose reward this transaction made
        self.inner = None          # the part after a SAVEPOINT


class Client:
    def __init__(self, idx, conninfo, seed, handoff, reward_order):
        self.idx = idx
        self.rng = random.Random(seed)
        self.handoff = handoff
        self.reward_order = reward_order
        self.conn = psycopg2.connect(application_name=f"bandit-soak-{idx}", **conninfo)
        self.cur = self.conn.cursor()
        self.cur.execute("SET statement_timeout = '60s'")
        self.cur.execute("SELECT pg_backend_pid()")
        self.pid = self.cur.fetchone()[0]
        self.conn.commit()
        self.delayed = []          # (decision id, experiment, arm) committed, not rewarded
        self.rewarded = []         # committed rewards, for the duplicate transaction
        # records
        self.decisions = {}
        self.rewards = {}
        self.rb_decisions = set()
        self.rb_rewards = set()
        self.doubt = []            # (decisions, rewards) of transactions whose COMMIT was in flight
        self.errors = collections.Counter()      # SQLSTATE -> count (unexpected)
        self.expected = collections.Counter()    # SQLSTATE -> count (deliberate)
        self.messages = []
        self.tx = collections.Counter()          # kind -> committed / rolled back
        self.calls = collections.Counter()       # (select|reward, online|batch) -> count
        self.lat = collections.defaultdict(list)
        self.lost = False

    # -- statements -------------------------------------------------------
    def _exec(self, sql, args):
        try:
            self.cur.execute(sql, args)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if self.conn.closed or exc.pgcode is None:
                raise Lost() from exc
            raise

    def select(self, eff, exp):
        t = time.perf_counter()
        self._exec("SELECT decision_id, arm, propensity FROM bandit_select(%s)", (exp,))
        did, arm, prop = self.cur.fetchone()
        self.lat[("select", EXP[exp]["mode"])].append(time.perf_counter() - t)
        self.calls[("select", EXP[exp]["mode"])] += 1
        eff.decisions[did] = (exp, arm, prop)
        return (did, exp, arm)

    def reward(self, eff, item, value=None):
        did, exp, arm = item
        if value is None:
            value = draw_reward(self.rng, exp, arm)
        t = time.perf_counter()
        self._exec("SELECT bandit_reward(%s, %s)", (did, value))
        self.lat[("reward", EXP[exp]["mode"])].append(time.perf_counter() - t)
        self.calls[("reward", EXP[exp]["mode"])] += 1
        eff.rewards[did] = value

    def reward_all(self, eff, items):
        items = list(items)
        if self.reward_order == "random":
            self.rng.shuffle(items)
        else:
            items.sort(key=order_key)
        for it in items:
            self.reward(eff, it)

    def pick_experiments(self, k):
        exps = [HOT] if self.rng.random() < 0.7 else []
        exps += self.rng.sample(OTHERS, k - len(exps)) if k > len(exps) else []
        return exps[:max(k, 1)]

    def take_delayed(self, n):
        out = []
        for _ in range(n):
            if self.rng.random() < 0.4:
                try:
                    out.append(self.handoff.get_nowait())
                    continue
                except queue.Empty:
                    pass
            if self.delayed:
                out.append(self.delayed.pop(self.rng.randrange(len(self.delayed))))
        return out

    # -- transactions -----------------------------------------------------
    def body(self, eff):
        """Runs the statements of one transaction; returns 'commit' or 'rollback'."""
        rng = self.rng
        k = eff.kind
        if k == "inline":
            items = [self.select(eff, e) for e in self.pick_experiments(rng.randint(1, 3))]
            now = [it for it in items if rng.random() < 0.85]
            self.reward_all(eff, now)
            return "commit"
        if k == "decide":
            for e in self.pick_experiments(rng.randint(1, 2)):
                self.select(eff, e)
            return "commit"
        if k == "delayed":
            items = self.take_delayed(rng.randint(1, 4))
            eff.delayed_used = items
            self.reward_all(eff, items)
            return "commit"
        if k == "rollback":
            items = [self.select(eff, e) for e in self.pick_experiments(rng.randint(1, 3))]
            old = self.take_delayed(rng.randint(0, 2))
            eff.delayed_used = old
            self.reward_all(eff, items + old)
            return "rollback"
        if k == "savepoint":
            a = self.select(eff, rng.choice([HOT] + OTHERS))
            self._exec("SAVEPOINT s", None)
            inner = eff.inner = Effects("inner")
            b = self.select(inner, rng.choice([HOT] + OTHERS))
            old = self.take_delayed(1)
            eff.delayed_used = old
            self.reward_all(inner, [b] + old)
            self._exec("ROLLBACK TO SAVEPOINT s", None)
            eff.rb_decisions |= set(inner.decisions)
            eff.rb_rewards |= set(inner.rewards)
            self.reward(eff, a)
            return "commit"
        if k == "duplicate":
            it = self.select(eff, HOT)
            self.reward(eff, it)
            did, exp, arm = self.rng.choice(self.rewarded)
            try:
                self._exec("SELECT bandit_reward(%s, %s)", (did, draw_reward(rng, exp, arm)))
            except psycopg2.Error as exc:
                if exc.pgcode != "23505":
                    raise
                self.expected["23505"] += 1
                return "rollback"
            raise AssertionError(f"a second reward of decision {did} was accepted")
        if k == "badreward":
            it = self.select(eff, rng.choice([e for e in [HOT] + OTHERS if EXP[e]["type"] == "bernoulli"]))
            self._exec("SAVEPOINT s", None)
            try:
                self._exec("SELECT bandit_reward(%s, %s)", (it[0], 1.5))
            except psycopg2.Error as exc:
                if exc.pgcode != "22003":
                    raise
                self.expected["22003"] += 1
            else:
                raise AssertionError(f"reward 1.5 of Bernoulli decision {it[0]} was accepted")
            self._exec("ROLLBACK TO SAVEPOINT s", None)
            self.reward(eff, it)
            return "commit"
        raise ValueError(k)

    def one_transaction(self):
        kinds, weights = zip(*TX_KINDS)
        kind = self.rng.choices(kinds, weights)[0]
        if kind == "delayed" and not self.delayed:
            kind = "inline"
        if kind == "duplicate" and not self.rewarded:
            kind = "inline"
        eff = Effects(kind)
        stage = "body"
        try:
            outcome = self.body(eff)
            if outcome == "commit":
                stage = "commit"
            try:
                self.conn.commit() if outcome == "commit" else self.conn.rollback()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if self.conn.closed or exc.pgcode is None:
                    raise Lost() from exc
                raise
        except Lost:
            self.lost = True
            if stage == "commit":
                self.doubt.append((dict(eff.decisions), dict(eff.rewards)))
                self.rb_decisions |= eff.rb_decisions
                self.rb_rewards |= eff.rb_rewards
            else:
                self._rolled_back(eff)
            self.tx[(kind, "lost")] += 1
            return
        except psycopg2.Error as exc:
            self.errors[exc.pgcode or "none"] += 1
            if len(self.messages) < 10:
                self.messages.append(f"{kind}: {exc.pgcode} {(exc.pgerror or str(exc)).strip()}")
            if exc.pgcode == "40P01" and self.reward_order == "random":
                self.errors[exc.pgcode] -= 1
                self.expected["40P01"] += 1
            try:
                self.conn.rollback()
            except psycopg2.Error:
                self.lost = True
            self._rolled_back(eff)
            self.tx[(kind, "error")] += 1
            return
        if outcome == "commit":
            self.decisions.update(eff.decisions)
            self.rewards.update(eff.rewards)
            self.rb_decisions |= eff.rb_decisions
            self.rb_rewards |= eff.rb_rewards
            for it in eff.delayed_used:   # a delayed reward undone by ROLLBACK TO SAVEPOINT
                if it[0] not in eff.rewards:
                    self.delayed.append(it)
            for did, (exp, arm, _) in eff.decisions.items():
                if did not in eff.rewards:
                    if kind == "decide" and self.rng.random() < 0.3:
                        self.handoff.put((did, exp, arm))
                    else:
                        self.delayed.append((did, exp, arm))
            for did in eff.rewards:
                exp, arm = (eff.decisions.get(did) or self._item_of(eff, did))[:2]
                if len(self.rewarded) < 2000:
                    self.rewarded.append((did, exp, arm))
            self.tx[(kind, "commit")] += 1
        else:
            self._rolled_back(eff)
            self.tx[(kind, "rollback")] += 1

    @staticmethod
    def _item_of(eff, did):
        for d, exp, arm in eff.delayed_used:
            if d == did:
                return (exp, arm)
        raise KeyError(did)

    def _rolled_back(self, eff):
        self.rb_decisions |= set(eff.decisions) | eff.rb_decisions
        self.rb_rewards |= set(eff.rewards) | eff.rb_rewards
        if eff.inner is not None:
            self.rb_decisions |= set(eff.inner.decisions)
            self.rb_rewards |= set(eff.inner.rewards)
        # delayed decisions whose reward was undone are still waiting for one
        for it in eff.delayed_used:
            if it[0] not in self.rewards:
                self.delayed.append(it)

    def run(self, start, deadline):
        time.sleep(max(0.0, start - time.time()))
        while time.time() < deadline and not self.lost:
            self.one_transaction()
        pid_end = None
        if not self.lost:
            try:
                self.cur.execute("SELECT pg_backend_pid()")
                pid_end = self.cur.fetchone()[0]
                self.conn.rollback()
                self.conn.close()
            except psycopg2.Error:
                self.lost = True
        return {
            "idx": self.idx, "pid": self.pid, "pid_end": pid_end,
            "decisions": self.decisions, "rewards": self.rewards,
            "rb_decisions": self.rb_decisions, "rb_rewards": self.rb_rewards - set(self.rewards),
            "doubt": self.doubt, "errors": self.errors, "expected": self.expected,
            "messages": self.messages, "tx": self.tx, "calls": self.calls,
            "lat": {k: sorted(v) for k, v in self.lat.items()}, "lost": self.lost,
        }


def client_main(idx, conninfo, seed, start, deadline, handoff, results, reward_order):
    try:
        res = Client(idx, conninfo, seed, handoff, reward_order).run(start, deadline)
    except BaseException:
        res = {"idx": idx, "crash": traceback.format_exc()}
    results.put(("client", res))


def refresher_main(conninfo, interval, start, deadline, results, busy):
    """SELECT bandit_refresh() every `interval` s, then bandit_arm_stats of one
    experiment; busy.value is 1 while a refresh is in flight."""
    out = {"refreshes": 0, "folded": 0, "durations": [], "errors": collections.Counter(),
           "messages": [], "warnings": [], "lost": False, "stats_calls": 0}
    try:
        conn = psycopg2.connect(application_name="bandit-soak-refresh", **conninfo)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET statement_timeout = '60s'")
        nxt = start + interval
        i = 0
        while time.time() < deadline:
            time.sleep(max(0.0, min(nxt, deadline) - time.time()))
            if time.time() >= deadline:
                break
            nxt += interval
            t = time.perf_counter()
            try:
                busy.value = 1
                cur.execute("SELECT bandit_refresh()")
                busy.value = 0
                out["folded"] += cur.fetchone()[0]
                out["refreshes"] += 1
                out["durations"].append(time.perf_counter() - t)
                cur.execute("SELECT count(*) FROM bandit_arm_stats(%s)", (EXPERIMENTS[i % len(EXPERIMENTS)][0],))
                cur.fetchone()
                out["stats_calls"] += 1
                i += 1
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                busy.value = 0
                if conn.closed or exc.pgcode is None:
                    out["lost"] = True
                    break
                raise
            except psycopg2.Error as exc:
                busy.value = 0
                out["errors"][exc.pgcode or "none"] += 1
                if len(out["messages"]) < 10:
                    out["messages"].append(f"{exc.pgcode} {(exc.pgerror or str(exc)).strip()}")
            for n in conn.notices:
                if "WARNING" in n:
                    out["warnings"].append(n.strip())
            del conn.notices[:]
        if not out["lost"]:
            conn.close()
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if exc.pgcode is None:
            out["lost"] = True
        else:
            out["crash"] = traceback.format_exc()
    except BaseException:
        out["crash"] = traceback.format_exc()
    results.put(("refresher", out))


class Load:
    """The merged records of one run of the workload."""

    def __init__(self):
        self.clients = []
        self.refresher = None
        self.seconds = 0.0
        self.crashed = []
        self.leftover = 0


def run_load(conninfo, seconds, clients=8, seed=0, refresh_interval=1.0, reward_order="sorted",
             kill_after=None, kill=None):
    """Runs the workload for `seconds` (or, with kill, until kill(refreshing)
    is called after kill_after seconds and the clients notice the lost server;
    refreshing() tells whether a bandit_refresh() is in flight)."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    handoff = ctx.Queue()
    busy = ctx.Value("i", 0, lock=False)
    start = time.time() + 2.0   # time for the spawned interpreters to start and connect
    horizon = seconds if kill is None else kill_after + 120
    deadline = start + horizon
    procs = [ctx.Process(target=client_main,
                         args=(i, conninfo, seed * 1000 + i, start, deadline, handoff, results, reward_order),
                         daemon=True) for i in range(clients)]
    procs.append(ctx.Process(target=refresher_main, args=(conninfo, refresh_interval, start, deadline, results, busy),
                             daemon=True))
    for p in procs:
        p.start()
    load = Load()
    if kill is not None:
        time.sleep(max(0.0, start + kill_after - time.time()))
        kill(lambda: busy.value == 1)
    got = []
    limit = deadline + 120
    while len(got) < len(procs) and time.time() < limit:
        try:
            got.append(results.get(timeout=0.2))
        except queue.Empty:
            pass
        try:
            while True:
                handoff.get_nowait()
                load.leftover += 1
        except queue.Empty:
            pass
    load.seconds = seconds if kill is None else kill_after
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    for kind, res in got:
        if "crash" in res:
            load.crashed.append(res["crash"])
        elif kind == "client":
            load.clients.append(res)
        else:
            load.refresher = res
    if len(got) < len(procs):
        load.crashed.append(f"{len(procs) - len(got)} of {len(procs)} processes did not report")
    return load


class Ledger:
    """What the clients know, accumulated over runs (crash rounds)."""

    def __init__(self):
        self.decisions = {}
        self.rewards = {}
        self.rb_decisions = set()
        self.rb_rewards = set()
        self.doubt = []
        self.resolved = collections.Counter()
        self.earlier_rb = set()    # uncommitted decision ids of earlier rounds (verified absent)
        self.reused = set()        # of those, ids that a later round's committed decision got again

    def add(self, load):
        for c in load.clients:
            self.reused |= self.earlier_rb & c["decisions"].keys()
            self.decisions.update(c["decisions"])
            self.rewards.update(c["rewards"])
            self.rb_decisions |= c["rb_decisions"]
            self.rb_rewards |= c["rb_rewards"]
            self.doubt.extend(c["doubt"])
        self.rb_rewards -= set(self.rewards)


def parse_posterior(text):
    return {k: (int(v) if k == "n" else float(v)) for k, v in re.findall(r"(\w+)=([^,)\s]+)", text)}


def close(a, b, rel=1e-9, floor=0.0):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + floor


def same_posterior(stored, folded, rel=1e-9):
    s, f = parse_posterior(stored), parse_posterior(folded)
    if s.keys() != f.keys() or s["n"] != f["n"]:
        return False
    return all(close(s[k], f[k], rel, 1e-12 if k == "mean" else 0.0) for k in s if k != "n")


def fetch_log(cur):
    cur.execute("""SELECT d.id, e.name, a.name, d.propensity, d.experiment_id, d.arm_id
                     FROM bandit.decision d
                     JOIN bandit.experiment e ON e.id = d.experiment_id
                     JOIN bandit.arm a ON a.experiment_id = d.experiment_id AND a.arm_id = d.arm_id""")
    dec = {r[0]: r[1:] for r in cur.fetchall()}
    cur.execute("""SELECT r.decision_id, r.reward, r.experiment_id, r.arm_id, d.id IS NOT NULL,
                          r.experiment_id = d.experiment_id AND r.arm_id = d.arm_id, d.propensity
                     FROM bandit.reward r LEFT JOIN bandit.decision d ON d.id = r.decision_id""")
    rows = cur.fetchall()
    rew = {r[0]: r[1:] for r in rows}
    return dec, rew, len(rows) - len(rew)


def verify(conn, ledger, tap, label, allow_doubt=False):
    """Every check of the log and posteriors against what the clients saw;
    ends with SELECT bandit_refresh().  In-doubt transactions (crash) must be
    all or nothing; they are then resolved into the ledger."""
    check = tap.check
    cur = conn.cursor()
    dec, rew, dup_rewards = fetch_log(cur)

    # in-doubt transactions: all of it or none of it
    bad_doubt = []
    applied = 0
    doubt_d, doubt_r = set(), set()
    for ds, rs in ledger.doubt:
        present = [d in dec for d in ds] + [r in rew for r in rs]
        if all(present):
            applied += 1
            ledger.decisions.update(ds)
            ledger.rewards.update(rs)
        elif not any(present):
            ledger.rb_decisions |= set(ds)
            ledger.rb_rewards |= set(rs) - set(ledger.rewards)
        else:
            bad_doubt.append((sorted(ds), sorted(rs), present))
        doubt_d |= set(ds)
        doubt_r |= set(rs)
    n_doubt = len(ledger.doubt)
    if allow_doubt:
        check(not bad_doubt, f"{label}: each of the {n_doubt} transactions whose COMMIT was in flight at the crash "
              "is there entirely or not at all",
              f"{applied} committed, {n_doubt - applied - len(bad_doubt)} not; half-applied: {bad_doubt[:5]}")
    else:
        check(n_doubt == 0, f"{label}: no transaction left in doubt (no COMMIT lost its connection)",
              f"{n_doubt} in doubt")
    ledger.resolved["applied"] += applied
    ledger.resolved["not applied"] += n_doubt - applied - len(bad_doubt)
    ledger.doubt = []
    ledger.rb_rewards -= set(ledger.rewards)

    # decisions
    missing = [d for d in ledger.decisions if d not in dec]
    wrong = [d for d, (e, a, p) in ledger.decisions.items() if d in dec and dec[d][:3] != (e, a, p)]
    check(not missing and not wrong,
          f"{label}: every decision a client saw committed is in bandit.decision with its experiment, arm and propensity",
          f"{len(ledger.decisions)} committed; missing {len(missing)} {sorted(missing)[:5]}; "
          f"different {len(wrong)} {[(d, ledger.decisions[d], dec[d][:3]) for d in sorted(wrong)[:3]]}")
    ghost = [d for d in ledger.rb_decisions if d in dec]
    extra = [d for d in dec if d not in ledger.decisions and d not in doubt_d]
    check(not ghost and not extra,
          f"{label}: no rolled-back decision in the log, and no decision no client committed",
          f"{len(ledger.rb_decisions)} rolled back, {len(ghost)} present {sorted(ghost)[:5]}; "
          f"{len(extra)} unknown {sorted(extra)[:5]}")

    # rewards
    missing = [d for d in ledger.rewards if d not in rew]
    wrong = [d for d, v in ledger.rewards.items() if d in rew and rew[d][0] != v]
    check(not missing and not wrong and dup_rewards == 0,
          f"{label}: every reward a client saw committed is in bandit.reward exactly once, with the value sent",
          f"{len(ledger.rewards)} committed; missing {len(missing)} {sorted(missing)[:5]}; "
          f"different value {len(wrong)} {[(d, ledger.rewards[d], rew[d][0]) for d in sorted(wrong)[:3]]}; "
          f"duplicated {dup_rewards}")
    ghost = [d for d in ledger.rb_rewards if d in rew]
    extra = [d for d in rew if d not in ledger.rewards and d not in doubt_r]
    orphan = [d for d, r in rew.items() if not r[3]]
    moved = [d for d, r in rew.items() if r[3] and not r[4]]
    check(not ghost and not extra and not orphan and not moved,
          f"{label}: no rolled-back reward in the log, none no client committed, each with its decision's experiment and arm",
          f"{len(ledger.rb_rewards)} rolled back, {len(ghost)} present {sorted(ghost)[:5]}; {len(extra)} unknown "
          f"{sorted(extra)[:5]}; without decision {len(orphan)} {orphan[:5]}; other arm {len(moved)} {moved[:5]}")

    # pending rewards
    cur.execute("""SELECT p.decision_id, e.params->>'update', r.decision_id IS NOT NULL,
                          r.reward = p.reward AND r.arm_id = p.arm_id AND r.experiment_id = p.experiment_id,
                          d.propensity = p.propensity
                     FROM bandit.pending_reward p
                     JOIN bandit.experiment e ON e.id = p.experiment_id
                     LEFT JOIN bandit.reward r ON r.decision_id = p.decision_id
                     LEFT JOIN bandit.decision d ON d.id = p.decision_id""")
    pend = cur.fetchall()
    bad = [r for r in pend if r[1] != "batch" or not r[2] or not r[3] or not r[4]]
    check(not bad, f"{label}: every pending reward belongs to a batch experiment and matches its reward row and decision",
          f"{len(pend)} pending; inconsistent {bad[:5]}")
    pending = {r[0] for r in pend}

    # the API before the final refresh
    cli = collections.defaultdict(lambda: [0, 0, []])
    for d, (e, a, p) in ledger.decisions.items():
        cli[(e, a)][0] += 1
    for d, v in ledger.rewards.items():
        if d not in ledger.decisions and d not in dec:
            continue   # reported above
        e, a = ledger.decisions[d][:2] if d in ledger.decisions else dec[d][:2]
        cli[(e, a)][1] += 1
        cli[(e, a)][2].append(v)
    bad_counts, bad_post = [], []
    for name, _, rtype, mode, _, _ in EXPERIMENTS:
        agg = "beta_posterior_agg" if rtype == "bernoulli" else "normal_posterior_agg"
        cur.execute(f"""
            WITH arms AS (
                SELECT a.arm_id, a.name,
                       (SELECT {agg}(r.reward) FROM bandit.reward r
                         WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id
                           AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward p
                                            WHERE p.decision_id = r.decision_id)) AS post
                  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
                 WHERE e.name = %s)
            SELECT s.arm, s.pulls, s.rewarded, s.reward_sum, s.ci_low, s.ci_high, s.prob_best,
                   (posterior_interval(x.post, 0.95))[1], (posterior_interval(x.post, 0.95))[2],
                   ((SELECT posterior_prob_best(array_agg(y.post ORDER BY y.arm_id)) FROM arms y))[x.arm_id]
              FROM bandit_arm_stats(%s) s JOIN arms x ON x.name = s.arm""", (name, name))
        for arm, pulls, rewarded, rsum, lo, hi, pb, elo, ehi, epb in cur.fetchall():
            c = cli[(name, arm)]
            if (pulls, rewarded) != (c[0], c[1]) or not close(rsum, math.fsum(c[2]), 1e-9, 1e-9):
                bad_counts.append((name, arm, (pulls, rewarded, rsum), (c[0], c[1], math.fsum(c[2]))))
            if not (close(lo, elo, 1e-9, 1e-12) and close(hi, ehi, 1e-9, 1e-12) and abs(pb - epb) <= 1e-7):
                bad_post.append((name, arm, (lo, hi, pb), (elo, ehi, epb)))
    check(not bad_counts, f"{label}: bandit_arm_stats: pulls, rewarded and reward_sum of every arm equal the clients' records",
          f"different: {bad_counts[:4]}")
    check(not bad_post, f"{label}: bandit_arm_stats before the final refresh: ci_low, ci_high and prob_best of every arm "
          "equal those of the aggregate of its folded log (online: all rewards; batch: the not pending ones)",
          f"different (stats, from the log): {bad_post[:4]}")

    # batch posteriors before the final refresh
    cur.execute("""SELECT e.name, a.name, COALESCE(a.beta::text, a.normal::text),
                          CASE WHEN a.beta IS NOT NULL THEN
                              (SELECT beta_posterior_agg(r.reward) FROM bandit.reward r
                                WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id
                                  AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward p WHERE p.decision_id = r.decision_id))::text
                          ELSE
                              (SELECT normal_posterior_agg(r.reward) FROM bandit.reward r
                                WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id
                                  AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward p WHERE p.decision_id = r.decision_id))::text
                          END
                     FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
                    WHERE e.params->>'update' = 'batch' ORDER BY e.id, a.arm_id""")
    rows = cur.fetchall()
    bad = [r for r in rows if not same_posterior(r[2], r[3])]
    check(rows and not bad, f"{label}: batch experiments before the final refresh: each arm's posterior in bandit.arm "
          "equals the aggregate of its rewards that are not pending",
          f"{len(rows)} arms; {len(pending)} pending; different (stored, log): {bad[:4]}")

    # the final refresh
    del conn.notices[:]
    cur.execute("SELECT bandit_refresh()")
    folded = cur.fetchone()[0]
    warnings = [n.strip() for n in conn.notices if "WARNING" in n]
    cur.execute("SELECT count(*) FROM bandit.pending_reward")
    left = cur.fetchone()[0]
    check(folded == len(pending) and left == 0 and not warnings,
          f"{label}: the final bandit_refresh() folds every pending reward, without a WARNING",
          f"folded {folded} of {len(pending)} pending, {left} left; {warnings[:3]}")

    # posteriors after the final refresh against the whole log
    cur.execute("""SELECT e.name, a.name, COALESCE(a.beta::text, a.normal::text),
                          CASE WHEN a.beta IS NOT NULL THEN
                              (SELECT beta_posterior_agg(r.reward) FROM bandit.reward r
                                WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)::text
                          ELSE
                              (SELECT normal_posterior_agg(r.reward) FROM bandit.reward r
                                WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)::text
                          END,
                          a.ipw_sum,
                          ARRAY(SELECT r.reward / d.propensity FROM bandit.reward r
                                  JOIN bandit.decision d ON d.id = r.decision_id
                                 WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)
                     FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
                    ORDER BY e.id, a.arm_id""")
    rows = cur.fetchall()
    bad = [r[:4] for r in rows if not same_posterior(r[2], r[3])]
    n_arms = sum(len(EXP[e[0]]["arms"]) for e in EXPERIMENTS)
    check(len(rows) == n_arms and not bad,
          f"{label}: after the final refresh every arm's posterior (bandit.arm) equals the aggregate of its reward log "
          "(beta_posterior_agg / normal_posterior_agg: n exactly, the rest to 1e-9 relative)",
          f"{len(rows)} arms, {len(rew)} rewards; different (stored, log): {bad[:4]}")
    bad = [(r[0], r[1], r[4], math.fsum(r[5])) for r in rows if not close(r[4], math.fsum(r[5]), 1e-9, 1e-9)]
    check(not bad, f"{label}: after the final refresh every arm's ipw_sum equals the sum of reward / propensity over its log",
          f"different (stored, log): {bad[:4]}")
    conn.commit()
    # What was rolled back has been checked absent.  After a crash PostgreSQL
    # can hand out the ids of transactions that did not commit again (a
    # sequence's WAL record is flushed only by a later commit), so the next
    # round starts with an empty list: an id rolled back now may be a new
    # committed decision later.
    ledger.earlier_rb |= ledger.rb_decisions
    ledger.rb_decisions = set()
    ledger.rb_rewards = set()
    return {"decisions": len(dec), "rewards": len(rew), "pending": len(pending), "doubt": n_doubt,
            "doubt_applied": applied}


def pct(xs, q):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def load_checks(tap, load, label, expect_lost=False):
    """Errors, deadlocks, crashes and the refresh session of one run."""
    check = tap.check
    check(not load.crashed, f"{label}: every client and the refresh session ran to the end and reported",
          " | ".join(c.strip().splitlines()[-1] for c in load.crashed[:3]))
    errors = collections.Counter()
    expected = collections.Counter()
    msgs = []
    for c in load.clients:
        errors.update(c["errors"])
        expected.update(c["expected"])
        msgs += c["messages"]
    ref = load.refresher or {"errors": {}, "warnings": [], "messages": [], "lost": False}
    errors.update({f"refresh {k}": v for k, v in ref["errors"].items()})
    msgs += ref["messages"]
    check(errors.get("40P01", 0) == 0, f"{label}: no deadlock (40P01)", f"{errors.get('40P01', 0)} deadlocks")
    unexpected = {k: v for k, v in errors.items() if v}
    check(not unexpected, f"{label}: no error but the deliberate ones",
          f"unexpected {dict(unexpected) or 'none'}; deliberate {dict(expected)}; {msgs[:4]}")
    check(not ref["warnings"], f"{label}: every bandit_refresh() of the refresh session ran without a WARNING",
          f"{ref['warnings'][:3]}")
    lost = sum(1 for c in load.clients if c["lost"]) + (1 if ref.get("lost") else 0)
    if not expect_lost:
        same = all(c["pid_end"] == c["pid"] for c in load.clients)
        check(lost == 0 and same, f"{label}: no connection lost, every client kept its backend (same pid) to the end",
              f"{lost} lost; pids {[(c['pid'], c['pid_end']) for c in load.clients if c['pid'] != c['pid_end']][:4]}")
    return errors, expected


def figures(load):
    """TAP comment lines with throughput and latency."""
    secs = max(load.seconds, 1e-9)
    calls = collections.Counter()
    tx = collections.Counter()
    lat = collections.defaultdict(list)
    for c in load.clients:
        calls.update(c["calls"])
        tx.update(c["tx"])
        for k, v in c["lat"].items():
            lat[k].extend(v)
    out = []
    committed = sum(v for (k, o), v in tx.items() if o == "commit")
    out.append(f"{len(load.clients)} clients, {load.seconds:.1f} s: {sum(tx.values())} transactions "
               f"({sum(tx.values()) / secs:.0f}/s), {committed} committed ({committed / secs:.0f}/s)")
    out.append("transactions: " + ", ".join(f"{k} {o} {v}" for (k, o), v in sorted(tx.items())))
    for mode in ("online", "batch"):
        parts = []
        for op in ("select", "reward"):
            xs = sorted(lat[(op, mode)])
            n = calls[(op, mode)]
            parts.append(f"{op} {n} ({n / secs:.0f}/s; ms p50 {1e3 * pct(xs, .5):.2f} p95 {1e3 * pct(xs, .95):.2f} "
                         f"p99 {1e3 * pct(xs, .99):.2f} max {1e3 * (xs[-1] if xs else float('nan')):.1f})")
        out.append(f"{mode}: " + "; ".join(parts))
    ref = load.refresher
    if ref:
        d = sorted(ref["durations"])
        out.append(f"refresh session: {ref['refreshes']} bandit_refresh() calls folding {ref['folded']} rewards "
                   f"(ms p50 {1e3 * pct(d, .5):.1f}, max {1e3 * (d[-1] if d else float('nan')):.1f}), "
                   f"{ref['stats_calls']} bandit_arm_stats calls")
    out.append(f"handed over, never rewarded: {load.leftover}")
    return out


def conninfo_from_env(dbname):
    info = {"dbname": dbname}
    for k, env in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")):
        if os.environ.get(env):
            info[k] = os.environ[env]
    return info


def server_log_tail(offset):
    """New lines of the throwaway cluster's server log (socket dir's sibling), if readable."""
    host = os.environ.get("PGHOST", "")
    path = os.path.join(os.path.dirname(host.rstrip("/")), "server.log") if host.startswith("/") else ""
    if not path or not os.path.isfile(path):
        return None, None
    size = os.path.getsize(path)
    if offset is None:
        return size, None
    with open(path, errors="replace") as f:
        f.seek(offset)
        return size, f.read()


def main(seconds=None, db=None, label="soak"):
    tap = Tap()
    seconds = float(os.environ.get("SOAK_SECONDS", "60")) if seconds is None else seconds
    db = os.environ.get("SOAK_DB", "bandit_soak") if db is None else db
    clients = int(os.environ.get("SOAK_CLIENTS", "8"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    interval = float(os.environ.get("SOAK_REFRESH_INTERVAL", "1.0"))
    order = os.environ.get("SOAK_REWARD_ORDER", "sorted")
    keep = os.environ.get("SOAK_KEEP", "0") == "1"
    admin = psycopg2.connect(**conninfo_from_env("postgres"))
    admin.autocommit = True
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
    admin.cursor().execute(f"CREATE DATABASE {db}")
    try:
        info = conninfo_from_env(db)
        conn = psycopg2.connect(**info)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("CREATE EXTENSION bandit")
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'bandit'")
        version = cur.fetchone()[0]
        create_experiments(conn)
        cur.execute("SELECT pg_postmaster_start_time()")
        started = cur.fetchone()[0]
        conn.close()
        log_offset, _ = server_log_tail(None)
        load = run_load(info, seconds, clients, seed, interval, order)
        load_checks(tap, load, label)
        conn = psycopg2.connect(**info)
        cur = conn.cursor()
        cur.execute("SELECT pg_postmaster_start_time()")
        restarted = cur.fetchone()[0] != started
        conn.rollback()
        _, new_log = server_log_tail(log_offset)
        crash_lines = [ln for ln in (new_log or "").splitlines()
                       if re.search(r"terminated by signal|PANIC|was terminated by|server process .* exited", ln)]
        tap.check(not restarted and not crash_lines,
                  f"{label}: the postmaster did not restart and no server process crashed",
                  f"server log {'read' if new_log is not None else 'not available'}; {crash_lines[:3]}")
        ledger = Ledger()
        ledger.add(load)
        conn.autocommit = False
        res = verify(conn, ledger, tap, label)
        conn.close()
        errors, expected = collections.Counter(), collections.Counter()
        for c in load.clients:
            errors.update(c["errors"])
            expected.update(c["expected"])
        lines = figures(load)
        lines.append(f"errors by SQLSTATE: unexpected {dict(+errors) or 'none'}; deliberate {dict(expected)}")
        lines.append(f"log: {res['decisions']} decisions, {res['rewards']} rewards, {res['pending']} pending "
                     f"before the final refresh; extension {version}; seed {seed}; reward order {order}")
        status = tap.report()
        for ln in lines:
            print(f"# {ln}")
        return status
    finally:
        if not keep:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    run_checks(main, "soak.py")
