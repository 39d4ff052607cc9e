#!/usr/bin/python3
"""Fuzz the posterior types' text input and binary receive functions (TAP).

Six functions: beta_posterior_in, normal_posterior_in, linear_posterior_in
(driven as text -> type casts) and beta_posterior_recv, normal_posterior_recv,
linear_posterior_recv (driven through COPY ... FROM STDIN (FORMAT binary)).
Each gets FUZZ_N inputs (10,000 here; test/soak/fuzz_types.sh runs
1,000,000), a mix of

  random     random strings (printable ASCII, the types' own alphabet, token
             soup, arbitrary Unicode) and random bytes (any length, the
             type's exact length, a valid header then random bits);
  valid      encodings of random valid values: random parameters including
             extremes (5e-324 and other subnormals, the smallest normal,
             1e308, DBL_MAX, -0.0, 0, n up to 2^63 - 1, dim 1..8, sometimes
             9..40, rarely up to 1000), written in every number form strtod
             reads exactly (shortest, %.17g, %.16e, hex, exact decimal
             expansions hundreds of digits long, leading + and zeros) with
             random whitespace (space, tab, newline, CR, FF, VT) around tokens;
  invalid    well-formed encodings of values that break an invariant (NaN,
             +-Inf, negative or zero parameters, negative n, asymmetric A,
             negative diagonal, negative or non-finite lambda, non-finite b),
             checked in Python to break one: each must be rejected with 22023;
  malformed  valid encodings with the closing parenthesis cut off or text
             after it (22P02; 22023 for a linear_posterior cut right after a
             dim read as 0, "dim=000", since dim is checked as soon as it is
             read), or truncated, extended, with a bad format or
             flags byte (22P03), or with linear_posterior's dim changed
             (22P03 in 1..1000, 22023 outside): each must get that SQLSTATE;
  mutated    invalid values mutated once, and valid encodings mutated 1-4
             times: character or byte replaced, inserted, deleted, swapped,
             duplicated; truncation and extension; numbers replaced by
             NaN/Inf spellings, overflowing, underflowing, very long or
             not-quite numbers; keys renamed, dropped, duplicated, swapped;
             dims changed; elements and rows added or removed; whitespace
             (also thousands of spaces, NBSP) anywhere; header bytes, dims,
             counts and float fields overwritten with edge values; fields
             swapped, duplicated; splices of two encodings;

plus a few fixed cases run first (dim 1000, dims 0, -1, 1001, 2^31 - 1,
n = 2^63 - 1 and 2^63, 4.9e-324 and 1e-400, the reference's examples), each
with the one outcome it must have.

The oracle, for every input:
  * accepted, or rejected with a documented SQLSTATE of that function
    (docs/reference.md, src/textio.c, src/posterior.c, src/linear.c):
      *_in:   22P02 (syntax), 22023 (an invariant: alpha/beta/kappa not
              positive finite, mean not finite, n < 0, dim outside 1..1000,
              lambda, A or b not finite, A asymmetric or with a negative
              diagonal);
      *_recv: 22P03 (length, format, flags), 22023 (the same invariants);
    anything else fails the function's check: a crash (connection lost, the
    backend's pid changed or the postmaster restarted), XX000, any other
    SQLSTATE, a hang (statement_timeout); so does a valid, invalid or
    malformed input without its one expected outcome, and an accepted value
    (its binary send, decoded here) that breaks a documented invariant;
  * every rejection's message is one of the messages documented for that
    SQLSTATE (a separate check);
  * every accepted value round trips: its text output reads back to the
    same text, its binary send is received back to the same text and the
    same bytes; an accepted binary payload is sent back byte for byte, and
    its text output reads back to the same payload;
  * every unmutated valid encoding is accepted with exactly the generated
    value (the text output parsed here, and the binary send, bit for bit).

Text inputs go 1,000 per round trip through a PL/pgSQL function that casts
each element in its own exception block (a subtransaction: each is a
separate failed statement) and returns its SQLSTATE, or its text output,
binary send and re-read text.  Binary inputs go up to 100 rows (64 kB) per
COPY: when a COPY fails, the failing row is the one its CONTEXT names (rows
before it were received successfully), and the COPY resumes after it, so
there is one COPY per rejected input plus one or two per chunk.  A batch
that loses the connection or fails as a whole is bisected down to single
inputs (reconnecting after each crash) to name the culprits; failing inputs
are then minimised (deletion of chunks, delta-debugging style) and reported
with repr().

After every batch the backend pid is checked, and at the end the
postmaster's start time.

Environment: FUZZ_N (10000 inputs per function), FUZZ_SEED (20240917; each
function's generator is seeded with seed and name, so a larger N extends
the same sequence), FUZZ_DB (bandit_pytest_fuzz, created and dropped),
FUZZ_PROGRESS (1: progress on stderr), FUZZ_FAILURE_LOG (a file to which
every failing input is appended in full, one JSON object per line),
FUZZ_TYPES (a comma-separated subset of the three types).
"""
import io
import json
import math
import os
import random
import re
import struct
import sys
import time
from collections import Counter
from decimal import Decimal

import numpy as np
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from taplib import Tap, run_checks  # noqa: E402

N = int(os.environ.get("FUZZ_N", "10000"))
SEED = int(os.environ.get("FUZZ_SEED", "20240917"))
DB = os.environ.get("FUZZ_DB", "bandit_pytest_fuzz")
PROGRESS = os.environ.get("FUZZ_PROGRESS", "0") == "1"
FAILURE_LOG = os.environ.get("FUZZ_FAILURE_LOG")
TYPES = [t.strip() for t in os.environ.get(
    "FUZZ_TYPES", "beta_posterior,normal_posterior,linear_posterior").split(",") if t.strip()]

TEXT_BATCH = 1000
BIN_BATCH = 2000
COPY_CHUNK = 100             # rows per COPY ...
COPY_CHUNK_BYTES = 1 << 16   # ... or fewer, so that large values are not sent again and again
MINIMIZE_BUDGET = 400        # probes per failing input
MINIMIZE_PER_FUNCTION = 3    # failing inputs minimised per function
MAX_CRASH_RECOVERIES = 60    # per run; beyond this the run stops fuzzing

tap = Tap()
check = tap.check



def wrap_i32(x):
    """x as a 32-bit two's complement integer (d +/- 1 of a dimension already at a limit)."""
    return ((x + 2 ** 31) % 2 ** 32) - 2 ** 31

def progress(msg):
    if PROGRESS:
        print(f"==> {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Documented outcomes
# ---------------------------------------------------------------------------

def _msgs(name):
    """Documented messages per SQLSTATE for name's input ('text') and recv ('binary')."""
    syntax = [rf'invalid input syntax for type {name}: ".*"']
    if name == "beta_posterior":
        inv = [r"beta_posterior (alpha|beta) must be a positive finite number",
               r"beta_posterior n must not be negative"]
    elif name == "normal_posterior":
        inv = [r"normal_posterior mean must be a finite number",
               r"normal_posterior (kappa|alpha|beta) must be a positive finite number",
               r"normal_posterior n must not be negative"]
    else:
        inv = [r"linear_posterior dimension must be between 1 and 1000",
               r"linear_posterior n must not be negative",
               r"lambda must be a finite number, zero or greater",
               r"linear_posterior A must contain only finite numbers",
               r"linear_posterior A must be symmetric",
               r"linear_posterior A must have a non-negative diagonal",
               r"linear_posterior b must contain only finite numbers"]
    if name == "linear_posterior":
        structure = [r"invalid binary linear_posterior: (too short|unknown format \d+ or flags \d+|wrong length)"]
    else:
        structure = [rf"invalid binary {name}: (wrong length|unknown format version \d+|unknown flags \d+)"]
    return {"text": {"22P02": syntax, "22023": inv}, "binary": {"22P03": structure, "22023": inv}}


DOCUMENTED = {t: _msgs(t) for t in ("beta_posterior", "normal_posterior", "linear_posterior")}
MSG_RE = {t: {form: {code: re.compile("(?:" + "|".join(pats) + r")\Z", re.S) for code, pats in codes.items()}
              for form, codes in forms.items()} for t, forms in DOCUMENTED.items()}


# ---------------------------------------------------------------------------
# Number generators
# ---------------------------------------------------------------------------

EXTREME_POS = [5e-324, 1e-323, 1.5e-323, 4.9406564584124654e-322, 2.225073858507201e-308,
               2.2250738585072014e-308, 2.2250738585072019e-308, 1e-307, 1e-300, 1e-200, 1e-100,
               2.220446049250313e-16, 1e-16, 1e-5, 0.1, 0.5, 0.9999999999999999, 1.0,
               1.0000000000000002, 2.0, 3.0, 10.0, 1e10, 9007199254740992.0, 9007199254740994.0,
               1e16, 1e22, 1e23, 1e100, 1e200, 1e300, 1e307, 8.98846567431158e307, 1e308,
               1.7976931348623155e308, 1.7976931348623157e308]
INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63


def f2b(x):
    return struct.pack(">d", x)


def bits_to_float(u):
    return struct.unpack(">d", struct.pack(">Q", u & 0xFFFFFFFFFFFFFFFF))[0]


def rand_pos(rng):
    """A positive finite float8, often extreme."""
    r = rng.random()
    if r < 0.25:
        return math.exp(rng.uniform(-20.0, 20.0))
    if r < 0.42:
        return rng.choice(EXTREME_POS)
    if r < 0.55:
        return float(rng.randint(1, 1000))
    if r < 0.85:
        x = math.ldexp(1.0 + rng.random(), rng.randint(-1074, 1023))
        return x if x > 0 else 5e-324
    while True:
        x = abs(bits_to_float(rng.getrandbits(64)))
        if math.isfinite(x) and x > 0:
            return x


def rand_finite(rng):
    r = rng.random()
    if r < 0.05:
        return 0.0
    if r < 0.10:
        return -0.0
    x = rand_pos(rng)
    return -x if rng.random() < 0.5 else x


def rand_nonneg(rng):
    r = rng.random()
    if r < 0.07:
        return 0.0
    if r < 0.10:
        return -0.0
    return rand_pos(rng)


def rand_count(rng):
    r = rng.random()
    if r < 0.2:
        return 0
    if r < 0.5:
        return rng.randint(1, 1000)
    if r < 0.8:
        return rng.randint(0, INT64_MAX)
    return rng.choice([1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 2 ** 62, INT64_MAX - 1, INT64_MAX])


def fmt_float(x, rng, plain=False):
    """x in a form strtod reads back exactly (non-finite: a spelling strtod reads)."""
    if not math.isfinite(x):
        if math.isnan(x):
            return rng.choice(["nan", "NaN", "NAN", "-nan", "+nan", "nan(123)", "NaN(0x1)"])
        s = rng.choice(["inf", "Infinity", "INF", "infinity", "iNf"])
        if x < 0:
            return "-" + s
        return rng.choice(["", "+"]) + s
    if plain:
        return repr(x)
    r = rng.random()
    neg = math.copysign(1.0, x) < 0
    if r < 0.50:
        return repr(x)
    if r < 0.64:
        return "%.17g" % x
    if r < 0.72:
        s = "%.16e" % x
        return s.upper() if rng.random() < 0.5 else s
    if r < 0.80:
        return x.hex()
    if r < 0.86:
        return ("-" + "0" * rng.randint(1, 30) + repr(-x)) if neg else "0" * rng.randint(1, 30) + repr(x)
    if r < 0.91:
        return repr(x) if neg else "+" + repr(x)
    if r < 0.96:
        # the exact decimal expansion (up to ~770 digits for subnormals)
        d = Decimal(x)
        return format(d, "f") if abs(d.adjusted()) < 400 else str(d)
    # a correct prefix padded with trailing zeros
    s = "%.17e" % x
    mant, exp = s.split("e")
    return mant + "0" * rng.randint(1, 400) + "e" + exp


def fmt_count(n, rng, plain=False):
    if plain or rng.random() < 0.8:
        return str(n)
    if n == 0 and rng.random() < 0.3:
        return "-0"
    return ("-" if n < 0 else "") + "0" * rng.randint(1, 30) + str(abs(n))


WS = ["", "", "", " ", " ", "  ", "\t", "\n", "\r\n", "\f", "\v", " \t \n "]


def ws(rng, plain):
    if plain:
        return ""
    if rng.random() < 0.005:
        return " " * rng.randint(100, 5000)
    return rng.choice(WS)


# ---------------------------------------------------------------------------
# Types: valid values, encodings, and parsing of the server's output
# ---------------------------------------------------------------------------

class ScalarType:
    """beta_posterior and normal_posterior: text (k1=, ..., n=), binary format, flags, n, floats."""

    def __init__(self, name, keys, kinds):
        self.name = name
        self.keys = keys            # float keys in text order; n comes last in text, first in binary
        self.kinds = kinds          # 'pos' or 'finite' per float key
        self.length = 2 + 8 + 8 * len(keys)
        pat = ", ".join(f"{k}=([^,()]+)" for k in keys)
        self.out_re = re.compile(rf"^\({pat}, n=(-?\d+)\)$")
        self.float_offsets = [10 + 8 * i for i in range(len(keys))]
        self.count_offset = 2

    def random_valid(self, rng):
        fl = tuple(rand_pos(rng) if k == "pos" else rand_finite(rng) for k in self.kinds)
        return (rand_count(rng), fl)

    def is_valid(self, v):
        """The documented invariants: n >= 0; alpha, beta, kappa positive and finite; mean finite."""
        n, fl = v
        return n >= 0 and all(math.isfinite(x) and (k == "finite" or x > 0) for k, x in zip(self.kinds, fl))

    def decode_binary(self, b):
        n, = struct.unpack(">q", b[2:10])
        return (n, struct.unpack(f">{len(self.keys)}d", b[10:]))

    def invalidate(self, v, rng):
        """A well-formed but invalid value (one or two invariants broken)."""
        for _ in range(50):
            w = self._invalidate(v, rng)
            if not self.is_valid(w):
                return w
        raise RuntimeError(f"could not invalidate {v}")

    def _invalidate(self, v, rng):
        n, fl = v
        fl = list(fl)
        for _ in range(rng.choice([1, 1, 1, 2])):
            if rng.random() < 0.2:
                n = rng.choice([-1, INT64_MIN, -rng.randint(1, INT64_MAX)])
                continue
            i = rng.randrange(len(fl))
            if self.kinds[i] == "pos":
                fl[i] = rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0, -fl[i], -5e-324,
                                    -1.7976931348623157e308, -1.0])
            else:
                fl[i] = rng.choice([math.nan, math.inf, -math.inf])
        return (n, tuple(fl))

    def encode_text(self, v, rng, plain=False):
        n, fl = v
        parts = [ws(rng, plain), "("]
        for k, x in zip(self.keys, fl):
            parts += [ws(rng, plain), k, ws(rng, plain), "=", ws(rng, plain), fmt_float(x, rng, plain),
                      ws(rng, plain), ",", " " if plain else ws(rng, plain)]
        parts += ["n", ws(rng, plain), "=", ws(rng, plain), fmt_count(n, rng, plain), ws(rng, plain), ")",
                  ws(rng, plain)]
        return "".join(parts)

    def encode_binary(self, v):
        n, fl = v
        return struct.pack(">BBq", 1, 0, n) + b"".join(f2b(x) for x in fl)

    def parse_output(self, text):
        """The binary encoding of the value the server printed (None if unparsable)."""
        m = self.out_re.match(text)
        if not m:
            return None
        try:
            fl = tuple(float(g) for g in m.groups()[:-1])
            n = int(m.groups()[-1])
        except ValueError:
            return None
        return self.encode_binary((n, fl))

    def random_bytes_valid_length(self, rng):
        return bytes(rng.getrandbits(8) for _ in range(self.length))

    def random_bytes_valid_header(self, rng):
        return b"\x01\x00" + bytes(rng.getrandbits(8) for _ in range(self.length - 2))


class LinearType:
    name = "linear_posterior"
    out_re = re.compile(r"^\(dim=(\d+), n=(-?\d+), lambda=([^,]+), A=\{(.*)\}, b=\{(.*)\}\)$", re.S)

    def rand_dim(self, rng):
        r = rng.random()
        if r < 0.86:
            return rng.randint(1, 8)
        if r < 0.9985:
            return rng.randint(9, 40)
        if r < 0.9998:
            return rng.randint(41, 150)
        return rng.randint(151, 1000)

    def random_valid(self, rng, dim=None):
        d = dim or self.rand_dim(rng)
        nrng = np.random.default_rng(rng.getrandbits(64))
        r = rng.random()
        lam = rng.choice([1.0, 0.1, 0.0]) if r < 0.4 else rand_nonneg(rng)
        style = rng.random()
        if style < 0.45 or d > 40:
            m = rng.randint(0, 2 * d + 2)
            X = nrng.standard_normal((m, d)) * (10.0 ** nrng.uniform(-3, 3, d))
            A = X.T @ X
            A = np.triu(A) + np.triu(A, 1).T
            A[np.diag_indices(d)] += lam
            if not np.all(np.isfinite(A)):
                A = np.eye(d) * lam
            b = nrng.standard_normal(d) * 10.0 ** nrng.uniform(-3, 3)
        elif style < 0.75:
            A = np.zeros((d, d))
            for j in range(d):
                A[j, j] = rand_nonneg(rng)
                for i in range(j):
                    A[i, j] = A[j, i] = rand_finite(rng)
            b = np.array([rand_finite(rng) for _ in range(d)])
        elif style < 0.85:
            A = np.eye(d) * lam
            b = np.zeros(d)
        elif style < 0.95:
            A = np.diag([rand_nonneg(rng) for _ in range(d)])
            b = np.array([rand_finite(rng) for _ in range(d)])
        else:
            A = np.zeros((d, d))
            b = np.zeros(d)
        return (d, rand_count(rng), lam, A, b)

    def is_valid(self, v):
        """1 <= dim <= 1000, n >= 0, lambda finite >= 0, A finite, symmetric (==), diagonal >= 0,
        b finite."""
        d, n, lam, A, b = v
        return bool(1 <= d <= 1000 and n >= 0 and math.isfinite(lam) and lam >= 0
                    and np.all(np.isfinite(A)) and np.all(A == A.T) and np.all(np.diag(A) >= 0)
                    and np.all(np.isfinite(b)))

    def decode_binary(self, b):
        d, n, lam = struct.unpack(">iqd", b[2:22])
        A = np.frombuffer(b, dtype=">f8", count=d * d, offset=22).reshape((d, d), order="F").astype(float)
        return (d, n, lam, A, np.frombuffer(b, dtype=">f8", count=d, offset=22 + 8 * d * d).astype(float))

    def invalidate(self, v, rng):
        for _ in range(50):
            w = self._invalidate(v, rng)
            if not self.is_valid(w):
                return w
        raise RuntimeError("could not invalidate a linear_posterior")

    def _invalidate(self, v, rng):
        d, n, lam, A, b = v
        A = A.copy()
        b = b.copy()
        for _ in range(rng.choice([1, 1, 1, 2])):
            r = rng.random()
            if r < 0.12:
                n = rng.choice([-1, INT64_MIN, -rng.randint(1, INT64_MAX)])
            elif r < 0.27:
                lam = rng.choice([math.nan, math.inf, -math.inf, -1.0, -5e-324, -1e308])
            elif r < 0.45:
                j = rng.randrange(d)
                A[j, j] = rng.choice([-5e-324, -1.0, -1e308, math.nan, math.inf, -math.inf]) \
                    if rng.random() < 0.8 else -abs(A[j, j]) - 1.0
            elif r < 0.65 and d > 1:
                i, j = rng.sample(range(d), 2)
                A[i, j] = rng.choice([A[i, j] + 1.0, math.nextafter(A[i, j], math.inf), -A[i, j] or 1.0, math.nan])
            elif r < 0.80:
                i, j = rng.randrange(d), rng.randrange(d)
                A[i, j] = rng.choice([math.nan, math.inf, -math.inf])
                if rng.random() < 0.5:
                    A[j, i] = A[i, j]
            else:
                b[rng.randrange(d)] = rng.choice([math.nan, math.inf, -math.inf])
        return (d, n, lam, A, b)

    def encode_text(self, v, rng, plain=False):
        d, n, lam, A, b = v
        fast = plain or d > 12
        fmt = (lambda x: repr(float(x)) if math.isfinite(x) else fmt_float(float(x), rng)) if fast \
            else (lambda x: fmt_float(float(x), rng))
        w = (lambda: "") if fast else (lambda: ws(rng, False))
        rows = []
        for i in range(d):
            rows.append(w() + "{" + ",".join(w() + fmt(x) + w() for x in A[i, :].tolist()) + "}" + w())
        if plain:
            return (f"(dim={d}, n={n}, lambda={fmt_float(lam, rng, True)}, A={{{','.join(rows)}}}, "
                    f"b={{{','.join(fmt(x) for x in b.tolist())}}})")
        return "".join([
            ws(rng, False), "(", ws(rng, False), "dim", ws(rng, False), "=", ws(rng, False), fmt_count(d, rng),
            ws(rng, False), ",", ws(rng, False), "n", ws(rng, False), "=", ws(rng, False), fmt_count(n, rng),
            ws(rng, False), ",", ws(rng, False), "lambda", ws(rng, False), "=", ws(rng, False),
            fmt_float(lam, rng), ws(rng, False), ",", ws(rng, False), "A", ws(rng, False), "=", ws(rng, False),
            "{", ",".join(rows), "}", ws(rng, False), ",", ws(rng, False), "b", ws(rng, False), "=",
            ws(rng, False), "{", ",".join(w() + fmt(x) + w() for x in b.tolist()), "}", ws(rng, False), ")",
            ws(rng, False)])

    def encode_binary(self, v):
        d, n, lam, A, b = v
        return (struct.pack(">BBiqd", 1, 0, d, n, lam) + np.asarray(A, dtype=">f8").tobytes(order="F")
                + np.asarray(b, dtype=">f8").tobytes())

    def parse_output(self, text):
        m = self.out_re.match(text)
        if not m:
            return None
        try:
            d = int(m.group(1))
            rows = m.group(4)[1:-1].split("},{")
            A = np.array([[float(x) for x in row.split(",")] for row in rows])
            b = np.array([float(x) for x in m.group(5).split(",")])
            if A.shape != (d, d) or b.shape != (d,):
                return None
            return self.encode_binary((d, int(m.group(2)), float(m.group(3)), A, b))
        except ValueError:
            return None

    def length(self, d):
        return 22 + 8 * (d * d + d)

    def random_bytes_valid_length(self, rng):
        d = rng.randint(1, 4)
        return bytes(rng.getrandbits(8) for _ in range(self.length(d)))

    def random_bytes_valid_header(self, rng):
        d = rng.randint(1, 6)
        body = bytes(rng.getrandbits(8) for _ in range(8 * (d * d + d) + 16))
        return struct.pack(">BBi", 1, 0, d) + body


TYPE_SPECS = {
    "beta_posterior": ScalarType("beta_posterior", ["alpha", "beta"], ["pos", "pos"]),
    "normal_posterior": ScalarType("normal_posterior", ["mean", "kappa", "alpha", "beta"],
                                   ["finite", "pos", "pos", "pos"]),
    "linear_posterior": LinearType(),
}


# ---------------------------------------------------------------------------
# Random inputs and mutations: text
# ---------------------------------------------------------------------------

KEYS_ALL = ["alpha", "beta", "n", "mean", "kappa", "dim", "lambda", "A", "b", "Alpha", "ALPHA", "N", "a", "B",
            "alph", "betaa", "lambda_", "x"]
STRUCT = "(){},="
ALPHABET_STRUCT = "(){},=.-+eE0123456789 \t\nxXpPabnlmdkiAfNI"
ODD_CHARS = ["\u00a0", "\u2003", "\u3000", "\uff11", "\u0663", "\u221e", "\u2212", "\u00e9", "\U0001F600",
             "\u200b", "\ufeff", "\x01", "\x7f", "\\", "'", '"', "%", "%s", "%n", "$", ";", "\u00ff"]
NUM_STRINGS = [
    "nan", "NaN", "NAN", "-nan", "nan(0x7ff)", "inf", "-inf", "+inf", "Infinity", "-Infinity", "infinity",
    "INF", "infinit", "in", "na", "1e309", "-1e309", "1e308", "1.7976931348623157e308",
    "1.7976931348623158e308", "1.7976931348623159e308", "1.797693134862316e308", "1e-400", "-1e-400",
    "2.4e-324", "2.5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "4.9e-324", "5e-324",
    "-5e-324", "2.2250738585072011e-308", "2.2250738585072012e-308", "0", "-0", "+0", "0.0", "-0.0", "00",
    "0e0", "0e999999", "1e-99999", "1e99999", "-1e99999", "1e", "1e+", "1e-", "e1", ".", "-", "+", "", " ",
    ".e1", "1.", ".5", "-.5", "1..2", "1.2.3", "1e1e1", "1e1.5", "0x", "0x1p", "0x1p-1074", "0x1p-1075",
    "0x1p-1076", "0x1.fffffffffffffp1023", "0x1.fffffffffffff8p1023", "0x1p1024", "0X10", "0x.8", "0xg",
    "1_000", "1,5", "\uff11", "\u0663", "\u2212" "1", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999999",
    "2147483647", "2147483648", "-2147483648", "4294967296", "1000", "1001", "999", "-1", "1e3", "3.0",
    "+5", "--1", "- 1", "1 2", "0001", "1e-1074", "1e-320", "1e-323", "1e-324", "-2", "1/2", "0b1", "1L",
    "true", "null", "NULL", "\\N", "()", "{}", "{1}", "1e+308", "1E308", "1.0e-308"]


def long_number(rng):
    k = rng.choice([50, 310, 400, 1000, rng.randint(1, 5000)])
    r = rng.random()
    if r < 0.25:
        return "1" + "0" * k
    if r < 0.45:
        return "0." + "0" * k + "1"
    if r < 0.6:
        return "9" * k
    if r < 0.7:
        return "1e" + "9" * min(k, 400)
    if r < 0.8:
        return "1e-" + "9" * min(k, 400)
    if r < 0.9:
        return "-" + "".join(rng.choice("0123456789") for _ in range(k))
    return "0." + "".join(rng.choice("0123456789") for _ in range(k)) + "e-300"


def rand_char(rng):
    r = rng.random()
    if r < 0.4:
        return rng.choice(ALPHABET_STRUCT)
    if r < 0.75:
        return chr(rng.randint(32, 126))
    if r < 0.9:
        return rng.choice(ODD_CHARS)
    return rand_unicode_char(rng)


def rand_unicode_char(rng):
    while True:
        c = rng.choice([rng.randint(1, 0x7FF), rng.randint(0x800, 0xFFFF), rng.randint(0x10000, 0x10FFFF)])
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


NUM_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F.]*(?:[pP][-+]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
                    r"|[Nn][Aa][Nn]|[Ii][Nn][Ff](?:inity)?)")
KEY_RE = re.compile(r"[A-Za-z_]+(?=\s*=)")
FIELD_RE = re.compile(r"[A-Za-z_]+\s*=\s*(?:\{(?:[^{}]|\{[^{}]*\})*\}|[^,(){}]*)")


def t_mutate(s, rng, spec):
    """One text mutation."""
    L = len(s)
    op = rng.randrange(22)
    pos = rng.randint(0, L)
    if op == 0 and L:                                   # replace a character
        i = rng.randrange(L)
        return s[:i] + rand_char(rng) + s[i + 1:]
    if op == 1:                                         # insert characters
        return s[:pos] + "".join(rand_char(rng) for _ in range(rng.randint(1, 4))) + s[pos:]
    if op == 2 and L:                                   # delete a span
        i = rng.randrange(L)
        return s[:i] + s[i + rng.randint(1, 8):]
    if op == 3:                                         # truncate
        return s[:pos]
    if op == 4:                                         # extend
        tail = rng.choice([s[:rng.randint(0, L)], ")", ",", ", n=1)", "x", "\x01", " " * 10,
                           "".join(rand_char(rng) for _ in range(rng.randint(1, 20)))])
        return s + tail
    if op == 5 and L > 1:                               # swap two characters
        i, j = sorted(rng.sample(range(L), 2))
        return s[:i] + s[j] + s[i + 1:j] + s[i] + s[j + 1:]
    if op == 6 and L:                                   # duplicate a span
        i = rng.randrange(L)
        j = min(L, i + rng.randint(1, 30))
        return s[:pos] + s[i:j] + s[pos:]
    if op in (7, 8, 9):                                 # replace a number
        ms = list(NUM_RE.finditer(s))
        if ms:
            m = rng.choice(ms)
            new = long_number(rng) if op == 9 else rng.choice(NUM_STRINGS)
            return s[:m.start()] + new + s[m.end():]
    if op == 10:                                        # negate a number
        ms = list(NUM_RE.finditer(s))
        if ms:
            m = rng.choice(ms)
            return s[:m.start()] + rng.choice(["-", "--", "+-", "-+", " -"]) + s[m.start():]
    if op == 11:                                        # rename a key
        ms = list(KEY_RE.finditer(s))
        if ms:
            m = rng.choice(ms)
            return s[:m.start()] + rng.choice(KEYS_ALL + [m.group().upper(), m.group() + " " + m.group(), ""]) \
                + s[m.end():]
    if op in (12, 13, 14):                              # swap / duplicate / drop a key=value field
        ms = list(FIELD_RE.finditer(s))
        if ms:
            if op == 12 and len(ms) > 1:
                a, b = sorted(rng.sample(ms, 2), key=lambda m: m.start())
                return s[:a.start()] + b.group() + s[a.end():b.start()] + a.group() + s[b.end():]
            m = rng.choice(ms)
            if op == 13:
                return s[:m.end()] + rng.choice([", ", ",", " "]) + m.group() + s[m.end():]
            j = m.end() + 1 if m.end() < L and s[m.end()] == "," else m.end()
            return s[:m.start()] + s[j:]
    if op == 15:                                        # whitespace anywhere
        w = rng.choice(["\t", "\n", " ", "\v", "\f", "\r", " " * rng.randint(2, 3000), "\u00a0"])
        return rng.choice([w + s, s + w, s[:pos] + w + s[pos:]])
    if op == 16:                                        # structural character inserted or deleted
        idx = [i for i, c in enumerate(s) if c in STRUCT]
        if idx and rng.random() < 0.5:
            i = rng.choice(idx)
            return s[:i] + s[i + 1:]
        return s[:pos] + rng.choice(STRUCT) + s[pos:]
    if op == 17:                                        # case change
        return rng.choice([s.upper(), s.lower(), s.swapcase()])
    if op == 18 and spec.name == "linear_posterior":    # change dim
        m = re.search(r"dim\s*=\s*([-+]?\w*)", s)
        if m:
            d = rng.choice(["0", "-1", "1", "2", "999", "1000", "1001", "2147483647", "2147483648",
                            "4294967297", "9223372036854775807", "-9223372036854775808", "65536", "46341",
                            str(rng.randint(1, 12)), "1e3", "0x10", "", "01"])
            return s[:m.start(1)] + d + s[m.end(1):]
    if op == 19 and spec.name == "linear_posterior":    # add or remove an element, or a row
        idx = [i for i, c in enumerate(s) if c == "}"]
        if idx:
            i = rng.choice(idx)
            r = rng.random()
            if r < 0.4:
                return s[:i] + "," + rng.choice(["0", "1", "-1", "nan", "1e308"]) + s[i:]
            if r < 0.7:
                j = s.rfind(",", 0, i)
                k = s.rfind("{", 0, i)
                if j > k >= 0:
                    return s[:j] + s[i:]
            else:
                k = s.rfind("{", 0, i)
                if k >= 0:
                    return s[:i + 1] + "," + s[k:i + 1] + s[i + 1:]
    if op == 20:                                        # odd characters
        return s[:pos] + rng.choice(ODD_CHARS) + s[pos:]
    if op == 21 and L:                                  # replace a span by a random string
        i = rng.randrange(L)
        return s[:i] + random_text(rng, spec, short=True) + s[i + rng.randint(0, 10):]
    return s[:pos] + rand_char(rng) + s[pos:]


def random_text(rng, spec, short=False):
    r = rng.random()
    n = rng.randint(0, 12 if short else 120)
    if r < 0.25:
        s = "".join(chr(rng.randint(32, 126)) for _ in range(n))
    elif r < 0.5:
        s = "".join(rng.choice(ALPHABET_STRUCT) for _ in range(n))
    elif r < 0.75:
        toks = list(STRUCT) + KEYS_ALL + NUM_STRINGS[:60] + [" ", ", "]
        s = "".join(rng.choice(toks) for _ in range(rng.randint(0, 4 if short else 40)))
    elif r < 0.87:
        s = "".join(rand_unicode_char(rng) for _ in range(n))
    else:
        s = bytes(rng.getrandbits(8) for _ in range(n)).decode("latin-1")
    return s


def clean_text(s):
    """The server's text cannot hold NUL; everything else (any Unicode) goes as is."""
    return s.replace("\x00", "\x01")


# ---------------------------------------------------------------------------
# Random inputs and mutations: binary
# ---------------------------------------------------------------------------

INTERESTING_DOUBLES = [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000000, 0x7FFFFFFFFFFFFFFF,
                       0xFFFFFFFFFFFFFFFF, 0x7FF4000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
                       0x8000000000000000, 0x0000000000000000, 0x0000000000000001, 0x8000000000000001,
                       0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
                       0x3FF0000000000000, 0xBFF0000000000000]
INTERESTING_I64 = [-1, INT64_MIN, INT64_MAX, 0, 1, 2 ** 32, -2 ** 32, 2 ** 31, INT64_MIN + 1]
INTERESTING_I32 = [0, -1, 1, 2, 3, 999, 1000, 1001, 2 ** 31 - 1, -2 ** 31, 65536, 46341, 46340, 2 ** 16 - 1,
                   -1000, 0x01000000, 0x00010000]


def b_mutate(b, rng, spec, other):
    L = len(b)
    op = rng.randrange(17)
    pos = rng.randint(0, L)
    if op == 0 and L:                                   # flip bits
        ba = bytearray(b)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(L)
            ba[i] ^= 1 << rng.randrange(8)
        return bytes(ba)
    if op == 1 and L:                                   # set a byte
        ba = bytearray(b)
        ba[rng.randrange(L)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.getrandbits(8)])
        return bytes(ba)
    if op == 2:                                         # insert bytes
        return b[:pos] + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16))) + b[pos:]
    if op == 3 and L:                                   # delete a span
        i = rng.randrange(L)
        return b[:i] + b[i + rng.randint(1, 16):]
    if op == 4:                                         # truncate
        return b[:rng.choice([pos, max(0, L - 1), max(0, L - 8), 0, 1, 2, 5, 6, 21, 22])]
    if op == 5:                                         # extend
        return b + rng.choice([b"\x00", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 32))),
                               b[:rng.randint(0, L)], b"\x00" * 8])
    if op == 6 and L >= 2:                              # header bytes
        ba = bytearray(b)
        ba[rng.randrange(2)] = rng.choice([0, 2, 3, 0x7F, 0x80, 0xFF, 1, rng.getrandbits(8)])
        return bytes(ba)
    if op in (7, 8):                                    # a float8 field set to an edge value
        offs = float_offsets(spec, b)
        if offs:
            o = rng.choice(offs)
            return b[:o] + struct.pack(">Q", rng.choice(INTERESTING_DOUBLES)) + b[o + 8:]
    if op == 9:                                         # n set to an edge value
        o = 6 if spec.name == "linear_posterior" else 2
        if L >= o + 8:
            return b[:o] + struct.pack(">q", rng.choice(INTERESTING_I64)) + b[o + 8:]
    if op in (10, 11) and spec.name == "linear_posterior" and L >= 6:
        d = struct.unpack(">i", b[2:6])[0]
        if op == 10:                                    # dim set, length unchanged
            nd = wrap_i32(rng.choice(INTERESTING_I32 + [d - 1, d + 1, rng.getrandbits(32) - 2 ** 31]))
            return b[:2] + struct.pack(">i", nd) + b[6:]
        d = d if 1 <= d <= 40 else 2
        nd = rng.choice([1, 2, 3, max(1, d - 1), d + 1, rng.randint(1, 9)])   # dim and length consistent
        data = b[22:] or b"\x00" * 8
        need = 8 * (nd * nd + nd)
        body = (data * (need // len(data) + 1))[:need]
        return b[:2] + struct.pack(">i", nd) + b[6:22].ljust(16, b"\x00") + body
    if op == 12 and L >= 16:                            # swap two 8-byte fields
        offs = [o for o in range(2, L - 7, 8)]
        if spec.name == "linear_posterior":
            offs = [o for o in range(6, L - 7, 8)]
        if len(offs) > 1:
            i, j = sorted(rng.sample(offs, 2))
            return b[:i] + b[j:j + 8] + b[i + 8:j] + b[i:i + 8] + b[j + 8:]
    if op == 13 and L >= 10:                            # duplicate a field
        i = rng.randrange(L - 8)
        return b[:i] + b[i:i + 8] + b[i:]
    if op == 14:                                        # splice with another encoding
        return b[:rng.randint(0, L)] + other[rng.randint(0, len(other)):]
    if op == 15 and spec.name == "linear_posterior" and L >= 22:   # asymmetric element
        d = struct.unpack(">i", b[2:6])[0]
        if 1 < d <= 40 and L == spec.length(d):
            i, j = rng.sample(range(d), 2)
            o = 22 + 8 * (i + j * d)
            return b[:o] + struct.pack(">Q", rng.getrandbits(64)) + b[o + 8:]
    return b[:pos] + bytes([rng.getrandbits(8)]) + b[pos:]


def float_offsets(spec, b):
    if spec.name == "linear_posterior":
        return list(range(14, len(b) - 7, 8))
    return [o for o in spec.float_offsets if o + 8 <= len(b)]


def random_bytes(rng, spec):
    r = rng.random()
    if r < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
    if r < 0.5:
        return spec.random_bytes_valid_length(rng)
    if r < 0.8:
        return spec.random_bytes_valid_header(rng)
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 8)))


# ---------------------------------------------------------------------------
# Input streams: (class, input, expected binary encoding of the value or None)
# ---------------------------------------------------------------------------

# Each generator returns (class, input, value, expected): value is the binary
# encoding of the value a valid input must give; expected is the one outcome
# the input must have ("ok" or a SQLSTATE), None when any documented one will do.

def gen_text(rng, spec):
    r = rng.random()
    if r < 0.15:
        return "random", clean_text(random_text(rng, spec)), None, None
    v = spec.random_valid(rng)
    if r < 0.35:
        plain = rng.random() < 0.4
        return "valid", spec.encode_text(v, rng, plain), spec.encode_binary(v), "ok"
    if r < 0.47:
        # well formed, an invariant broken (NaN and Inf in spellings strtod reads): 22023
        return "invalid", spec.encode_text(spec.invalidate(v, rng), rng, rng.random() < 0.5), None, "22023"
    if r < 0.55:
        # the closing parenthesis cut off, or text after it: 22P02; but linear_posterior's dim
        # is checked as soon as it is read, so a cut right after "dim=000" is 22023
        s = spec.encode_text(v, rng, rng.random() < 0.5)
        expected = "22P02"
        if rng.random() < 0.5:
            s = s[:rng.randint(0, s.rfind(")"))]
            m = re.match(r"\s*\(\s*dim\s*=\s*(\d+)", s)
            if spec.name == "linear_posterior" and m and not 1 <= int(m.group(1)) <= 1000:
                expected = "22023"
        else:
            s += rng.choice(["x", ")", ",", "0", " x", "()", ", n=1)", "\t;", "--"])
        return "malformed", s, None, expected
    if r < 0.65:
        s = t_mutate(spec.encode_text(spec.invalidate(v, rng), rng, rng.random() < 0.5), rng, spec)
        return "mutated", clean_text(s), None, None
    s = spec.encode_text(v, rng, rng.random() < 0.5)
    for _ in range(min(rng.randint(1, 4), rng.randint(1, 4))):
        s = t_mutate(s, rng, spec)
    return "mutated", clean_text(s), None, None


def gen_binary(rng, spec):
    r = rng.random()
    if r < 0.15:
        return "random", random_bytes(rng, spec), None, None
    v = spec.random_valid(rng)
    if r < 0.35:
        b = spec.encode_binary(v)
        return "valid", b, b, "ok"
    if r < 0.47:
        return "invalid", spec.encode_binary(spec.invalidate(v, rng)), None, "22023"
    if r < 0.55:
        # structure broken: length, format, flags (22P03); linear_posterior's dim (22P03 when
        # in 1..1000, as the length no longer matches; 22023 when outside, checked first)
        b = spec.encode_binary(v)
        op = rng.randrange(5 if spec.name == "linear_posterior" else 4)
        if op == 0:
            return "malformed", b[:rng.randrange(len(b))], None, "22P03"
        if op == 1:
            return "malformed", b + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16))), None, "22P03"
        if op == 2:
            return "malformed", bytes([rng.choice([0, 2, 3, 0x7F, 0x80, 0xFF])]) + b[1:], None, "22P03"
        if op == 3:
            return "malformed", b[:1] + bytes([rng.randint(1, 255)]) + b[2:], None, "22P03"
        d = v[0]
        nd = rng.choice([x for x in map(wrap_i32, INTERESTING_I32 + [d - 1, d + 1, rng.getrandbits(32) - 2 ** 31])
                         if x != d])
        return ("malformed", b[:2] + struct.pack(">i", nd) + b[6:], None,
                "22P03" if 1 <= nd <= 1000 else "22023")
    if r < 0.65:
        b = b_mutate(spec.encode_binary(spec.invalidate(v, rng)), rng, spec,
                     spec.encode_binary(spec.random_valid(rng)))
        return "mutated", b, None, None
    b = spec.encode_binary(v)
    other = spec.encode_binary(spec.random_valid(rng)) if rng.random() < 0.2 else b
    for _ in range(min(rng.randint(1, 4), rng.randint(1, 4))):
        b = b_mutate(b, rng, spec, other)
    return "mutated", b, None, None


def fixed_cases(spec, form):
    """Hand-picked cases run first, every time: the limits the generators rarely reach, and the
    documented examples, each with the one outcome it must have."""
    rng = random.Random(f"fixed:{spec.name}:{form}")
    out = []
    if spec.name == "linear_posterior":
        big = spec.random_valid(rng, dim=1000)
        d1 = spec.random_valid(rng, dim=1)
        if form == "text":
            t = spec.encode_text(d1, rng, True)
            assert t.startswith("(dim=1, ")
            out += [("valid", spec.encode_text(big, rng, True), spec.encode_binary(big), "ok"),
                    ("malformed", t.replace("dim=1,", "dim=1001,"), None, "22023"),
                    ("malformed", t.replace("dim=1,", "dim=0,"), None, "22023"),
                    ("malformed", t.replace("dim=1,", "dim=2147483648,"), None, "22023"),
                    ("malformed", t.replace("dim=1,", "dim=-1,"), None, "22023"),
                    ("malformed", t.replace("dim=1,", "dim=9223372036854775808,"), None, "22P02"),
                    ("malformed", t.replace("dim=1,", "dim=1000,"), None, "22P02"),
                    ("malformed", t.replace("dim=1,", "dim=2,"), None, "22P02"),
                    ("valid", "(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2})",
                     spec.encode_binary((2, 3, 1.0, np.array([[2, 0.5], [0.5, 3]]), np.array([1.0, 2.0]))), "ok"),
                    ("invalid", "(dim=2, n=0, lambda=1, A={{1,0.5},{0,1}}, b={0,0})", None, "22023"),
                    ("malformed", "(dim=2, n=3, lambda=1, A={{2,0.5,1},{0.5,3}}, b={1,2})", None, "22P02"),
                    ("valid", "(dim=1, n=0, lambda=0, A={{4.9e-324}}, b={-1.7976931348623157e308})",
                     spec.encode_binary((1, 0, 0.0, np.array([[5e-324]]), np.array([-1.7976931348623157e308]))),
                     "ok"),
                    ("malformed", "(dim=1, n=0, lambda=0, A={{1e-400}}, b={0})", None, "22P02"),
                    ("invalid", "(dim=1, n=0, lambda=-0.5, A={{1}}, b={0})", None, "22023")]
        else:
            b = spec.encode_binary(d1)
            out.append(("valid", spec.encode_binary(big), spec.encode_binary(big), "ok"))
            for d in (0, -1, 1001, 2 ** 31 - 1, -2 ** 31, 46341):
                out.append(("malformed", b[:2] + struct.pack(">i", d) + b[6:], None, "22023"))
            out += [("malformed", b[:2] + struct.pack(">i", 1000) + b[6:], None, "22P03"),
                    ("malformed", b[:2] + struct.pack(">i", 2) + b[6:], None, "22P03"),
                    ("malformed", b"", None, "22P03"), ("malformed", b"\x01", None, "22P03"),
                    ("malformed", b"\x01\x00\x00\x00\x00", None, "22P03"), ("malformed", b[:6], None, "22P03"),
                    ("malformed", b[:-1], None, "22P03"), ("malformed", b + b"\x00", None, "22P03"),
                    ("valid", b, b, "ok")]
    else:
        v = spec.random_valid(rng)
        b = spec.encode_binary(v)
        if form == "text":
            t = spec.encode_text(v, rng, True)
            ones = ", ".join(f"{k}=1" for k in spec.keys)
            out += [("malformed", x, None, "22P02") for x in ("", " ", "(", "()", t[:-1], t + ")", t + " x")]
            out += [("valid", f"({ones}, n=9223372036854775807)",
                     spec.encode_binary((INT64_MAX, (1.0,) * len(spec.keys))), "ok"),
                    ("malformed", f"({ones}, n=9223372036854775808)", None, "22P02"),
                    ("invalid", f"({ones}, n=-1)", None, "22023"),
                    ("malformed", f"({ones}, n=+1)", None, "22P02"),
                    ("valid", f"( {ones.replace('=', ' = ')} ,n=10 )",
                     spec.encode_binary((10, (1.0,) * len(spec.keys))), "ok"),
                    ("valid", "(" + ", ".join(f"{k}=4.9e-324" for k in spec.keys) + ", n=1)",
                     spec.encode_binary((1, (5e-324,) * len(spec.keys))), "ok"),
                    ("malformed", "(" + ", ".join(f"{k}=1e-400" for k in spec.keys) + ", n=1)", None, "22P02"),
                    ("malformed", "(" + ", ".join(f"{k}=1e309" for k in spec.keys) + ", n=1)", None, "22P02"),
                    ("invalid", "(" + ", ".join(f"{k}=NaN" for k in spec.keys) + ", n=1)", None, "22023"),
                    ("invalid", "(" + ", ".join(f"{k}=-Infinity" for k in spec.keys) + ", n=1)", None, "22023")]
        else:
            out += [("malformed", x, None, "22P03") for x in (b"", b[:1], b[:2], b[:-1], b + b"\x00",
                                                              b"\x02" + b[1:], b[:1] + b"\x01" + b[2:])]
            out.append(("valid", b, b, "ok"))
    return out


# ---------------------------------------------------------------------------
# The server side
# ---------------------------------------------------------------------------

TEXT_FUNC = """
CREATE FUNCTION fuzz_text_{t}(inputs text[])
RETURNS TABLE (o_state text, o_msg text, o_out text, o_send bytea, o_reread text, o_reread_state text)
LANGUAGE plpgsql AS $f$
DECLARE
    v {t};
    w {t};
BEGIN
    FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
        o_state := 'ok'; o_msg := NULL; o_out := NULL; o_send := NULL; o_reread := NULL; o_reread_state := NULL;
        BEGIN
            v := inputs[i]::{t};
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS o_state = RETURNED_SQLSTATE, o_msg = MESSAGE_TEXT;
        END;
        IF o_state = 'ok' THEN
            o_out := v::text;
            o_send := {t}_send(v);
            BEGIN
                w := o_out::{t};
                o_reread := w::text;
                o_reread_state := 'ok';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS o_reread_state = RETURNED_SQLSTATE, o_reread := MESSAGE_TEXT;
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$f$;
"""

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_HEADER = COPY_SIGNATURE + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
LINE_RE = re.compile(r"COPY fuzz_bin_\w+, line (\d+), column p\b")


class Lost(Exception):
    pass


class Server:
    """One connection to the scratch database; reconnects after a crash."""

    def __init__(self, dbname):
        self.dbname = dbname
        self.crashes = 0
        self.pid_changes = 0
        self.conn = None
        self.connect()
        self.start_time = self.one("SELECT pg_postmaster_start_time()")

    def connect(self, wait=180.0):
        deadline = time.time() + wait
        while True:
            try:
                self.conn = psycopg2.connect(dbname=self.dbname)
                self.conn.autocommit = True
                self.cur = self.conn.cursor()
                self.cur.execute("SET statement_timeout = '300s'")
                self.cur.execute("SET client_min_messages = warning")
                self.pid = self.one("SELECT pg_backend_pid()")
                return
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def one(self, sql, args=None):
        self.cur.execute(sql, args)
        return self.cur.fetchone()[0]

    def lost(self, exc=None):
        if self.conn.closed:
            return True
        if exc is not None and exc.pgcode and not exc.pgcode.startswith("57"):
            return False        # an ordinary error reported by a live backend
        try:
            self.cur.execute("SELECT 1")
            return False
        except psycopg2.Error:
            return True

    def recover(self):
        """After a lost connection: count the crash, reconnect (the server may be in recovery)."""
        self.crashes += 1
        try:
            self.conn.close()
        except psycopg2.Error:
            pass
        if self.crashes > MAX_CRASH_RECOVERIES:
            raise RuntimeError(f"more than {MAX_CRASH_RECOVERIES} crashes, giving up")
        time.sleep(0.5)
        self.connect()

    def alive_same_pid(self):
        try:
            ok = self.one("SELECT pg_backend_pid()") == self.pid
        except psycopg2.Error:
            ok = False
        if not ok:
            self.pid_changes += 1
        return ok

    def setup(self, names):
        for t in names:
            self.cur.execute(TEXT_FUNC.format(t=t))
            self.cur.execute(f"CREATE UNLOGGED TABLE fuzz_bin_{t} (id int4, p {t})")

    # -- text ----------------------------------------------------------------

    def run_text(self, t, inputs):
        """Per input: (state, msg, out, send, reread, reread_state); state 'ok', a SQLSTATE,
        'CRASH' (connection lost) or 'BATCH:<sqlstate>' (the batch failed as a whole)."""
        if not inputs:
            return []
        try:
            self.cur.execute(f"SELECT * FROM fuzz_text_{t}(%s::text[])", (inputs,))
            rows = self.cur.fetchall()
            if len(rows) != len(inputs):
                raise RuntimeError(f"fuzz_text_{t} returned {len(rows)} rows for {len(inputs)} inputs")
            return [(r[0], r[1], r[2], bytes(r[3]) if r[3] is not None else None, r[4], r[5]) for r in rows]
        except psycopg2.Error as exc:
            lost = self.lost(exc)
            if lost:
                self.recover()
            if len(inputs) == 1:
                state = "CRASH" if lost else f"BATCH:{exc.pgcode}"
                return [(state, str(exc).strip().splitlines()[0] if str(exc).strip() else "", None, None, None,
                         None)]
            mid = len(inputs) // 2
            return self.run_text(t, inputs[:mid]) + self.run_text(t, inputs[mid:])

    # -- binary --------------------------------------------------------------

    def copy(self, t, rows):
        """COPY (id, payload) rows in; None, or (line, sqlstate, message) of the failure; Lost."""
        out = [COPY_HEADER]
        for rid, p in rows:
            out.append(struct.pack(">hiii", 2, 4, rid, len(p)))
            out.append(p)
        out.append(COPY_TRAILER)
        try:
            self.cur.copy_expert(f"COPY fuzz_bin_{t} (id, p) FROM STDIN WITH (FORMAT binary)",
                                 io.BytesIO(b"".join(out)))
            return None
        except psycopg2.Error as exc:
            if self.lost(exc):
                self.recover()
                raise Lost(str(exc))
            ctx = exc.diag.context or ""
            m = LINE_RE.search(ctx)
            line = int(m.group(1)) if m else None
            return line, exc.pgcode, exc.diag.message_primary or str(exc)

    def run_binary(self, t, payloads, base=0):
        """Per payload: (state, msg); accepted payloads end up in fuzz_bin_t with id base + index."""
        res = [None] * len(payloads)
        chunks, cur, size = [], [], 0
        for i, p in enumerate(payloads):
            if cur and (len(cur) >= COPY_CHUNK or size + len(p) > COPY_CHUNK_BYTES):
                chunks.append(cur)
                cur, size = [], 0
            cur.append(i)
            size += len(p)
        if cur:
            chunks.append(cur)
        for rows in chunks:
            pending = []        # received fine, but rolled back with a later row's failure
            while rows:
                try:
                    err = self.copy(t, [(base + i, payloads[i]) for i in rows])
                except Lost:
                    self._binary_one_by_one(t, payloads, rows, res, base)
                    rows = []
                    break
                if err is None:
                    for i in rows:
                        res[i] = ("ok", None)
                    rows = []
                    break
                line, code, msg = err
                if line is None or not 1 <= line <= len(rows):
                    # not attributable to one row: try each alone
                    self._binary_one_by_one(t, payloads, rows, res, base)
                    rows = []
                    break
                k = line - 1
                pending += rows[:k]
                res[rows[k]] = (code, msg)
                rows = rows[k + 1:]
            if pending:
                self._store(t, payloads, pending, res, base)
        return res

    def _store(self, t, payloads, idx, res, base):
        """COPY rows that were received fine once; a failure now is nondeterminism."""
        try:
            err = self.copy(t, [(base + i, payloads[i]) for i in idx])
        except Lost:
            err = (None, "CRASH", "connection lost storing rows received fine before")
        if err is None:
            for i in idx:
                res[i] = ("ok", None)
        else:
            self._binary_one_by_one(t, payloads, idx, res, base)
            for i in idx:
                if res[i][0] != "ok":       # accepted once, rejected now
                    res[i] = (f"UNSTABLE:{res[i][0]}", res[i][1])

    def _binary_one_by_one(self, t, payloads, idx, res, base):
        for i in idx:
            try:
                err = self.copy(t, [(base + i, payloads[i])])
                res[i] = ("ok", None) if err is None else (
                    err[1] if err[0] == 1 else f"BATCH:{err[1]}", err[2])
            except Lost as exc:
                res[i] = ("CRASH", str(exc).strip().splitlines()[0] if str(exc).strip() else "")

    def readback(self, t):
        """{id: (text, send)} of the stored rows; the table is emptied."""
        self.cur.execute(f"SELECT id, p::text, {t}_send(p) FROM fuzz_bin_{t}")
        rows = {r[0]: (r[1], bytes(r[2])) for r in self.cur.fetchall()}
        self.cur.execute(f"TRUNCATE fuzz_bin_{t}")
        return rows


# ---------------------------------------------------------------------------
# The fuzzing loop
# ---------------------------------------------------------------------------

class Stats:
    def __init__(self, func, allowed, msg_re):
        self.func = func
        self.allowed = allowed
        self.msg_re = msg_re
        self.total = 0
        self.by_class = Counter()           # (class, outcome) -> count
        self.failures = []                  # (input, state, msg)
        self.expect_bad = []                # (input, kind, msg)
        self.fail_count = 0
        self.fail_kinds = Counter()
        self.msg_bad = []                   # (input, state, msg)
        self.msg_bad_count = 0
        self.rt_bad = []
        self.rt_bad_count = 0
        self.rt_checked = 0
        self.exact_bad = []
        self.exact_bad_count = 0
        self.exact_checked = 0

    def outcome(self, cls, inp, state, msg, expected=None):
        self.total += 1
        key = "accepted" if state == "ok" else state
        self.by_class[(cls, key)] += 1
        if state != "ok" and state not in self.allowed:
            self.fail_count += 1
            self.fail_kinds[state] += 1
            if len(self.failures) < 50:
                self.failures.append((inp, state, msg))
            log_failure(self.func, "rejection", inp, state, msg)
            return False
        if expected is not None and expected != "ok" and state != expected:
            # a documented outcome, but not the one this input must have
            kind = f"{cls} input: {key} instead of {expected}"
            self.fail_count += 1
            self.fail_kinds[kind] += 1
            if len(self.expect_bad) < 10:
                self.expect_bad.append((inp, kind, msg))
            log_failure(self.func, "expected " + expected, inp, state, msg)
        if state == "ok":
            return True
        if not self.msg_re[state].match(msg or ""):
            self.msg_bad_count += 1
            if len(self.msg_bad) < 10:
                self.msg_bad.append((inp, state, msg))
            log_failure(self.func, "message", inp, state, msg)
        return False

    def accepted_value(self, spec, payload, inp):
        """An accepted value (its binary form) must satisfy the documented invariants."""
        try:
            ok = spec.is_valid(spec.decode_binary(payload))
        except (struct.error, ValueError):
            ok = False
        if not ok:
            kind = "accepted a value that breaks an invariant"
            self.fail_count += 1
            self.fail_kinds[kind] += 1
            if len(self.expect_bad) < 10:
                self.expect_bad.append((inp, kind, None))
            log_failure(self.func, "invariant", inp, "ok", None)

    def roundtrip(self, ok, inp, what):
        """what: a function giving the description (only called on failure)."""
        self.rt_checked += 1
        if not ok:
            what = what()
            self.rt_bad_count += 1
            if len(self.rt_bad) < 10:
                self.rt_bad.append((inp, what))
            log_failure(self.func, "roundtrip", inp, None, what)

    def exact(self, ok, inp, what):
        self.exact_checked += 1
        if not ok:
            what = what()
            self.exact_bad_count += 1
            if len(self.exact_bad) < 10:
                self.exact_bad.append((inp, what))
            log_failure(self.func, "exact", inp, None, what)

    def counts(self):
        tot = Counter()
        for (cls, key), c in self.by_class.items():
            tot[key] += c
        order = ["accepted"] + sorted(k for k in tot if k != "accepted")
        parts = [f"{k} {tot[k]}" for k in order if tot[k]]
        per_class = []
        for cls in ("random", "valid", "invalid", "malformed", "mutated"):
            sub = {k: c for (cl, k), c in self.by_class.items() if cl == cls}
            if sub:
                per_class.append(f"{cls} {sum(sub.values())} (" + ", ".join(
                    f"{k} {sub[k]}" for k in ["accepted"] + sorted(x for x in sub if x != "accepted")
                    if k in sub) + ")")
        return ", ".join(parts) + "; by generator: " + "; ".join(per_class)


def short(x, n=160):
    r = repr(x)
    return r if len(r) <= n else r[:n] + f"... ({len(x)} {'bytes' if isinstance(x, bytes) else 'chars'})"


def log_failure(func, kind, inp, state, msg):
    if not FAILURE_LOG:
        return
    rec = {"function": func, "kind": kind, "state": state, "message": msg,
           "input": inp.hex() if isinstance(inp, bytes) else inp,
           "input_encoding": "hex" if isinstance(inp, bytes) else "text"}
    with open(FAILURE_LOG, "a") as f:
        f.write(json.dumps(rec) + "\n")


def fuzz_text(srv, spec, n, seed):
    t = spec.name
    st = Stats(f"{t}_in", set(DOCUMENTED[t]["text"]), MSG_RE[t]["text"])
    rng = random.Random(f"{seed}:{t}:text")
    fixed = fixed_cases(spec, "text")
    done = 0
    pid_ok = True
    last = time.time()
    while done < n:
        m = min(TEXT_BATCH, n - done)
        batch = [fixed.pop(0) for _ in range(min(len(fixed), m))]
        batch += [gen_text(rng, spec) for _ in range(m - len(batch))]
        res = srv.run_text(t, [b[1] for b in batch])
        to_bin = []
        for (cls, inp, want, expected), (state, msg, out, send, reread, rstate) in zip(batch, res):
            if not st.outcome(cls, inp, state, msg, expected):
                if cls == "valid":
                    st.exact(False, inp, lambda: f"valid input rejected: {state} {msg}")
                continue
            st.accepted_value(spec, send, inp)
            st.roundtrip(rstate == "ok" and reread == out, inp,
                         lambda: f"text output {short(out)} read back as {rstate} {short(reread)}")
            to_bin.append((inp, out, send))
            if cls == "valid":
                got = spec.parse_output(out)
                st.exact(got == want and send == want, inp,
                         lambda: f"output {short(out)} / send {short(send)} differ from the generated value "
                         f"{short(want)}")
        # binary round trip of the accepted values: send -> recv -> same text, same send
        if to_bin:
            bres = srv.run_binary(t, [x[2] for x in to_bin])
            back = srv.readback(t)
            for i, ((inp, out, send), (bstate, bmsg)) in enumerate(zip(to_bin, bres)):
                got = back.get(i)
                st.roundtrip(bstate == "ok" and got == (out, send), inp,
                             lambda: f"binary send {short(send)} of {short(out)} re-received: "
                             f"{bstate} {bmsg} {got}")
        pid_ok &= srv.alive_same_pid()
        done += m
        if time.time() - last > 10:
            progress(f"{t}_in: {done}/{n}, {st.fail_count} failures")
            last = time.time()
    return st, pid_ok


def fuzz_binary(srv, spec, n, seed):
    t = spec.name
    st = Stats(f"{t}_recv", set(DOCUMENTED[t]["binary"]), MSG_RE[t]["binary"])
    rng = random.Random(f"{seed}:{t}:binary")
    fixed = fixed_cases(spec, "binary")
    done = 0
    pid_ok = True
    last = time.time()
    while done < n:
        m = min(BIN_BATCH, n - done)
        batch = [fixed.pop(0) for _ in range(min(len(fixed), m))]
        batch += [gen_binary(rng, spec) for _ in range(m - len(batch))]
        res = srv.run_binary(t, [b[1] for b in batch])
        back = srv.readback(t)
        accepted = []
        for i, ((cls, inp, want, expected), (state, msg)) in enumerate(zip(batch, res)):
            if not st.outcome(cls, inp, state, msg, expected):
                if cls == "valid":
                    st.exact(False, inp, lambda: f"valid payload rejected: {state} {msg}")
                continue
            got = back.get(i)
            if got is None:
                st.roundtrip(False, inp, lambda: "accepted but not stored")
                continue
            out, send = got
            st.accepted_value(spec, inp, inp)
            st.roundtrip(send == inp, inp, lambda: f"accepted payload sent back as {short(send)}")
            accepted.append((inp, out))
            if cls == "valid":
                st.exact(spec.parse_output(out) == want, inp,
                         lambda: f"text output {short(out)} is not the value sent")
        # text round trip of the accepted values: out -> in gives the same text and the same bytes
        if accepted:
            tres = srv.run_text(t, [a[1] for a in accepted])
            for (inp, out), (state, msg, out2, send2, reread, rstate) in zip(accepted, tres):
                st.roundtrip(state == "ok" and out2 == out and send2 == inp and rstate == "ok" and reread == out,
                             inp, lambda: f"text output {short(out)} read back: {state} {msg} {short(out2)}")
        pid_ok &= srv.alive_same_pid()
        done += m
        if time.time() - last > 10:
            progress(f"{t}_recv: {done}/{n}, {st.fail_count} failures")
            last = time.time()
    return st, pid_ok


def minimize(srv, spec, form, inp, state):
    """Delete chunks while the input still fails with the same outcome (ddmin-like)."""
    t = spec.name

    def outcomes(cands):
        if form == "text":
            r = [x[0] for x in srv.run_text(t, cands)]
        else:
            r = [x[0] for x in srv.run_binary(t, cands)]
            srv.readback(t)
        return r

    budget = MINIMIZE_BUDGET
    seq = inp
    gran = 2
    while len(seq) >= 1 and budget > 0:
        chunk = max(1, len(seq) // gran)
        cands = [seq[:i] + seq[i + chunk:] for i in range(0, len(seq), chunk)]
        budget -= len(cands)
        hit = None
        for c, o in zip(cands, outcomes(cands)):
            if o == state:
                hit = c
                break
        if hit is not None:
            seq = hit
            gran = max(gran - 1, 2)
        elif chunk == 1:
            break
        else:
            gran = min(gran * 2, len(seq))
    return seq


def report_function(st, form, spec, pid_ok, srv):
    allowed = " or ".join(sorted(st.allowed))
    diag = [f"{st.total} inputs: {st.counts()}"]
    if st.fail_count:
        diag.append(f"{st.fail_count} failures {dict(st.fail_kinds)}")
        for inp, kind, msg in st.expect_bad[:3]:
            diag.append(f"{kind}: {short(inp, 300)} -> {msg!r}")
        seen = set()
        for inp, state, msg in st.failures:
            if state in seen or len(seen) >= MINIMIZE_PER_FUNCTION:
                continue
            seen.add(state)
            small = minimize(srv, spec, form, inp, state)
            diag.append(f"{state}: {short(inp, 300)} -> {msg!r}; minimised to {short(small, 300)}")
    check(st.fail_count == 0 and pid_ok,
          f"{st.func}: {st.total} random, valid, invalid, malformed and mutated inputs: no crash, no XX000, "
          f"every rejection {allowed}; valid ones accepted, invalid ones 22023, malformed ones their code; "
          "no accepted value breaks an invariant (backend pid unchanged after every batch)",
          " | ".join(diag))


def main():
    t0 = time.time()
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    srv = None
    try:
        c = psycopg2.connect(dbname=DB)
        c.autocommit = True
        c.cursor().execute("CREATE EXTENSION bandit")
        c.close()
        srv = Server(DB)
        srv.setup(TYPES)
        all_stats = []
        for t in TYPES:
            spec = TYPE_SPECS[t]
            for form, fn in (("text", fuzz_text), ("binary", fuzz_binary)):
                t1 = time.time()
                progress(f"{t} {form}: {N} inputs, seed {SEED}")
                st, pid_ok = fn(srv, spec, N, SEED)
                st.seconds = time.time() - t1
                progress(f"{st.func}: {st.total} inputs in {st.seconds:.1f} s, {st.fail_count} failures")
                report_function(st, form, spec, pid_ok, srv)
                all_stats.append((form, spec, st))
        for form, spec, st in all_stats:
            if form == "text":
                what = (f"{st.func}: every accepted value's text output reads back to the same text, and its "
                        f"binary send is received back to the same text and bytes")
            else:
                what = (f"{st.func}: every accepted payload is sent back byte for byte, and its text output "
                        f"reads back to the same text and the same payload")
            check(st.rt_bad_count == 0 and st.rt_checked > 0, what,
                  f"{st.rt_checked} round trips, {st.rt_bad_count} bad"
                  + "".join(f" | {short(i)}: {w}" for i, w in st.rt_bad[:3]))
        for t in TYPES:
            sts = [st for form, spec, st in all_stats if spec.name == t]
            bad = sum(s.exact_bad_count for s in sts)
            n_ok = sum(s.exact_checked for s in sts)
            check(bad == 0 and n_ok > 0,
                  f"{t}: every unmutated valid encoding (text and binary) is accepted with exactly the "
                  "generated value, bit for bit",
                  f"{n_ok} valid inputs, {bad} wrong" + "".join(
                      f" | {short(i)}: {w}" for s in sts for i, w in s.exact_bad[:2]))
        bad = sum(s.msg_bad_count for _, _, s in all_stats)
        rej = sum(c for _, _, s in all_stats for (cls, k), c in s.by_class.items() if k != "accepted")
        check(bad == 0, "every rejection's message is one documented for its SQLSTATE and function",
              f"{rej} rejections, {bad} with an undocumented message" + "".join(
                  f" | {s.func} {short(i)}: {st_} {m!r}" for _, _, s in all_stats for i, st_, m in s.msg_bad[:2]))
        try:
            start = srv.one("SELECT pg_postmaster_start_time()")
        except psycopg2.Error:
            start = None
        total = sum(s.total for _, _, s in all_stats)
        check(srv.crashes == 0 and srv.pid_changes == 0 and start == srv.start_time,
              "the backend survived every input: no lost connection, same pid, postmaster never restarted",
              f"{total} inputs in {time.time() - t0:.1f} s (seed {SEED}, {N} per function; "
              + ", ".join(f"{s.func} {s.seconds:.1f} s" for _, _, s in all_stats)
              + f"); crashes {srv.crashes}, pid changes {srv.pid_changes}")
    finally:
        if srv is not None and srv.conn is not None:
            srv.conn.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.close()
    return tap.report()


if __name__ == "__main__":
    run_checks(main, "fuzz_types.py")
