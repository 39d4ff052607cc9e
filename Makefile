# bandit: PGXS build.  Point PG_CONFIG at another server's pg_config to build for it.
EXTENSION = bandit
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" bandit.control)

MODULE_big = bandit
OBJS = src/bandit.o src/random.o src/posterior.o src/aggregates.o \
       src/distributions.o src/thompson.o src/config.o src/policy.o \
       src/catalog.o src/experiment.o src/textio.o src/linear.o \
       src/linear_math.o src/linear_aggregates.o src/contextual.o src/lints.o src/ope.o src/ope_aggregates.o \
       src/evaluate.o src/reward_slot.o src/operations.o src/forgetting.o src/posterior_ops.o src/window_aggregates.o src/monitoring.o

DATA = $(wildcard sql/bandit--*.sql)

REGRESS = types aggregates api errors linear

ISOLATION = reward_refresh double_reward arm_changes hot_arm pause guardrail_race

PG_CPPFLAGS += -I$(srcdir)/src
SHLIB_LINK += -llapacke -llapack -lblas -lm

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies unless the server was configured with
# --enable-depend: rebuild every object when any of our headers changes.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
