// What differs between the PostgreSQL majors custseg supports (15, 17 and 18), in one place:
// included by custseg_pg.h right after postgres.h, inside its extern "C" block. Each difference is
// handled by PG_VERSION_NUM where it arises; the rest of the glue is written against one API.
#pragma once

// Why: from PostgreSQL 16 on the varlena macros (VARSIZE, SET_VARSIZE, VARDATA, ...) live in
// varatt.h, which postgres.h no longer includes.
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif
