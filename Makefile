# PGXS build of custseg.so from the C++ core (src/core) and the PostgreSQL glue (src/pg).
EXTENSION = custseg
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" custseg.control)
MODULE_big = custseg
DATA = $(wildcard sql/custseg--*.sql)

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS = $(wildcard src/pg/*.cpp)
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

REGRESS = setup fit predict model_io parallel stages train scoring choose_k identity explore predict_parallel errors errors_fit errors_model errors_names
# 0.3.0: one line per part, so that the parts' lists do not collide
REGRESS += own_data transforms labels metric_space # analyst's own data
REGRESS += # PostgreSQL 17 and 18
REGRESS += parallel_sample row_layouts predict_columns # speed
REGRESS += model_value # Citus
REGRESS += motion # customers in motion
REGRESS += methods # more ways to segment
ISOLATION = train_concurrent registry_cache
ISOLATION += views_one_version # resilience
ISOLATION_OPTS = --load-extension=custseg
ISOLATION += rescore_locks # customers in motion
REGRESS_OPTS = --load-extension=custseg

PG_CONFIG ?= pg_config
EIGEN_CFLAGS ?= $(shell pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
PG_CXXFLAGS = -std=c++17 -fopenmp-simd -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register -DEIGEN_NO_DEBUG $(EIGEN_CFLAGS)
SHLIB_LINK = -lstdc++

# The bitcode for the JIT would need clang++; custseg's hot loops are compiled C++ already.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on every header (PGXS tracks no header dependencies by itself).
$(OBJS): $(wildcard src/core/*.h src/pg/*.h)
# The silhouette's distances must round alike in its vector loops and their scalar ends, whatever
# the compiler's target: no fused multiply-adds there (src/core/metrics.cpp).
src/core/metrics.o: CXXFLAGS += -ffp-contract=off

.PHONY: format
format:
	clang-format -i src/core/*.h src/core/*.cpp src/pg/*.h src/pg/*.cpp test/unit/*.cpp
