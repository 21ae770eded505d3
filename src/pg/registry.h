// Looking up stored models and segment labels in the extension's tables, once per query.
#pragma once

#include "custseg_pg.h"

namespace custseg::pg {

struct StoredModel {
  uint8_t* bytes;  // the model's flat layout, in the caller's context
  size_t len;
  char* name;
  int32 version;
  int n_labels;
  int32* label_segments;  // segment numbers with a label in custseg_segments
  char** labels;
};

// The active version of the model `name`, or, when name is null, the only active model trained on
// relation `relid`. Errors (no such model, several on that table) name what was asked for.
StoredModel* load_active_model(MemoryContext cxt, const char* name, Oid relid);

// The label of a segment, or null.
const char* segment_label(const StoredModel* m, int32 segment);

}  // namespace custseg::pg
