// The custseg_fit aggregate's core: resolving a table's columns into features (features.cpp), the
// accumulator of one partial scan (exact moments of every row plus a bottom-k sample of rows for the
// clustering), its flat serialized form that PostgreSQL keeps as the aggregate state and the merge
// of two partial states (state.cpp, sample.cpp), and the final fit that turns a state into a Model:
// the shared preprocessing (preprocess.cpp), the clustering method and its metrics (finish.cpp), and
// the matching of segments across versions (identity.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"
#include "linalg.h"
#include "model.h"
#include "moments.h"
#include "options.h"
#include "sparse_rows.h"
#include "text_key.h"

namespace custseg::core {

// ---- column resolution ----

enum class ColumnType { kNumber, kBool, kText, kOther };

struct ColumnInfo {
  std::string name;
  ColumnType type = ColumnType::kOther;
  std::string type_name;  // for messages
};

struct PlannedFeature {
  int column = -1;      // index into the ColumnInfo list
  Kind kind = Kind::kNumeric;
  // kNumber/kBool column used as categorical: the glue passes its text form.
  // kText column used as numeric: the glue parses its text as a number.
  bool convert = false;
};

struct FeaturePlan {
  std::vector<PlannedFeature> features;  // encoding order: numeric first, then categorical
  std::vector<std::string> names;
  int n_numeric = 0;
};

// Decides each column's role from its type and the options: numbers and booleans are numeric, text
// is categorical, "categorical"/"numeric" force a kind, "exclude" drops columns. Every name an option
// lists must exist; a column of another type must be excluded.
FeaturePlan plan_features(const std::vector<ColumnInfo>& columns, const FitOptions& opt);

// One k of custseg_evaluate_k.
struct KEvaluation {
  int k = 0;
  double inertia = 0, silhouette = 0, silhouette_rows = 0, calinski_harabasz = 0, davies_bouldin = 0;
  double n_iter = 0, rows = 0;
  double bic = std::numeric_limits<double>::quiet_NaN(), aic = std::numeric_limits<double>::quiet_NaN();  // gmm
  bool is_elbow = false, chosen = false;
};
// k whose silhouette is within this of the best count as tied; the elbow breaks the tie.
constexpr double kSilhouetteTie = 0.02;

// How the segments of a new model version correspond to the previous version's.
struct SegmentMatch {
  std::vector<int> previous_of;  // per new centroid: the matched previous centroid, or -1
  std::vector<double> distance;  // per new centroid: distance to its assigned previous centroid (NaN if none)
};

// Optimal assignment (minimum total distance) of the new centroids to the previous ones, compared in
// original units standardized by the new model's scaler, over the encoded columns both share. An
// assigned pair counts as a match only when closer than max_ratio times the distance from the
// previous centroid to its nearest previous neighbour.
SegmentMatch match_segments(const Model& next, const Model& previous, double max_ratio = 0.5);

// ---- the aggregate state ----
//
// A state is one flat buffer (see state.cpp for the layout): header, feature names, options text, the
// category dictionary with an open-addressing hash index, the moments (n, N, A, M), a block of
// pending rows not yet folded into the moments, and the sample of rows for k-means. Rows are
// stored raw: numeric values (NaN for NULL) then category ids (-1 for NULL), as doubles.
//
// The sample is a bottom-k sample: every row gets a seeded 64-bit hash of its content, and the
// state keeps the distinct rows with the sample_size smallest hashes, each with the number of rows
// that had its content. Which rows those are depends on the set of rows alone, not on their order
// nor on how they were split among workers, and two samples merge exactly (the bottom k of a union
// is the bottom k of the two bottom-k sets). A sample entry is [hash, count, row...]: two 8-byte
// words (raw uint64 bits) before the row. Entries above the threshold (the largest hash kept once
// more than sample_size distinct rows were seen) are never taken; the room above sample_size lets
// candidates collect before a compaction sorts them and drops the excess.

// Room for sample entries in a state: half again the sample, so compactions are rare.
inline uint64_t sample_room(int64_t sample_size) {
  return sample_size <= 0 ? 0 : uint64_t(sample_size) + uint64_t(sample_size) / 2 + 16;
}

// The decoded form, for the rare structural changes (a new category, a larger sample room),
// merging two states, and the final fit.
struct FitParts {
  static constexpr int kPendingRows = 256;
  static constexpr int kEntryExtra = 2;  // hash and count words before each sampled row

  std::vector<std::string> names;  // encoding order: numeric first
  int n_numeric = 0;
  std::string options_json;
  int64_t sample_size = kDefaultSampleSize;
  uint64_t seen = 0, skipped = 0, used = 0;
  uint64_t hash_seed = 0;                // seeds the content hash of the bottom-k sample
  uint64_t threshold = UINT64_MAX;       // entries with a larger hash are out of the sample
  std::vector<int> level_col;            // categorical index of each category id (insertion order)
  std::vector<std::string> levels;       // text of each category id
  std::vector<uint64_t> level_hash;      // seeded hash of each category id's column and text
  Moments moments;                       // columns: numeric, then category ids
  std::vector<double> pending;           // row-major, row_width() doubles per row
  std::vector<double> sample;            // entry_width() doubles per entry
  // decode_state with borrow: the sample is read in place from the encoded state, which must
  // outlive this object (the final fit reads it once; copying it would double the peak memory).
  const double* borrowed = nullptr;
  uint64_t borrowed_entries = 0;
  uint64_t sample_cap = 0;  // entries the encoded state has room for
  uint32_t level_cap = 0;         // categories the encoded state has room for (at least levels.size())
  uint64_t level_bytes_cap = 0;   // bytes of category text it has room for
  bool verbose = false;
  // dedupe: the sample holds every distinct row once (no eviction; more distinct rows than
  // sample_size is an error) and the moments are those of the distinct rows.
  bool dedupe = false;

  FitParts() = default;
  // A fresh state; the options are parsed here so a bad option fails on the first row.
  FitParts(std::vector<std::string> names, int n_numeric, std::string options_json);

  int row_width() const { return int(names.size()); }
  int entry_width() const { return row_width() + kEntryExtra; }
  const double* sample_data() const { return borrowed ? borrowed : sample.data(); }
  uint64_t sample_entries() const { return borrowed ? borrowed_entries : sample.size() / size_t(entry_width()); }
  int n_categorical() const { return row_width() - n_numeric; }
  // Makes room for this row: adds its unseen categories, grows the sample room when it is full.
  void prepare(const StrRef* categorical);
  void fold_pending();
  // One-hot encodes raw rows (numeric values, category ids) into moment columns.
  RowMatrix encode_rows(const double* rows, size_t count, size_t stride) const;
  // Sorts the sample's entries, merges entries of equal content, keeps the sample_size smallest.
  void compact();
  void merge(FitParts& other);
  // Runs scaler, PCA, the clustering method (method.h) and the metrics. `notice` gets progress
  // lines when verbose.
  Model finish(InterruptCheck check = nullptr, const std::function<void(const std::string&)>& notice = {});
  // The same preprocessing, then the method and its metrics for every k in [k_min, k_max], the elbow
  // and the chosen k (see README: custseg_evaluate_k).
  std::vector<KEvaluation> evaluate_k(int k_min, int k_max, InterruptCheck check = nullptr,
                                      const std::function<void(const std::string&)>& notice = {});
  // The same preprocessing, then dbscan's k-distance curve of the clustered rows (each row's
  // distance to its min_samples-th nearest row, sorted) and its knee (dbscan.h).
  std::vector<double> k_distance_curve(int min_samples, double* knee, InterruptCheck check = nullptr);

 private:
  struct Prepared {
    Model model;  // features, scaler, PCA and row counts; no k-means stage yet
    RowMatrix X;  // with need_rows: the clustered rows, transformed, in canonical order
    RowMatrix Xf; // with need_rows, PCA and "metric_space": "features": the same rows before PCA
    SparseRows S; // instead of X (then empty), when sparse_ok and the rows take the sparse form
  };
  // With need_rows, consumes the sample (the rows are in X, or S, afterwards). With sparse_ok, the
  // rows of a model without PCA whose encoding is mostly one-hot columns come as sparse rows in S
  // (sparse_rows.h): the same rows, in the same order, a fraction of the memory.
  Prepared prepare(const FitOptions& opt, bool need_rows, const std::function<void(const std::string&)>& say,
                   bool sparse_ok = false);

 public:
};

// The rows k-means runs on, from a sample: per distinct entry (in canonical order: hash, then
// content), the entry's index and how many copies of it are taken. Every kept row when there are
// at most sample_size of them, else a uniform draw of sample_size of them without replacement
// (seeded); with dedupe, each distinct row once.
struct SampleDraw {
  std::vector<uint64_t> entry;
  std::vector<uint64_t> copies;
  uint64_t rows = 0;
  uint64_t kept = 0;  // the kept entries' rows before the draw (the sum of their counts)
};
SampleDraw draw_sample(const FitParts& parts, uint64_t seed);

// The length of an encoded state without its unused sample room, and that state written to `out`
// (byte for byte the state with sample_cap = sample_count): what a partial state ships as. Plain
// copies; `out` needs no alignment.
size_t compact_state_length(const uint8_t* data, size_t len);
void compact_state_into(const uint8_t* data, size_t len, uint8_t* out, size_t out_len);

// The names and number of numeric features of an encoded state, read from its header alone (the
// glue's per-call cache needs only these; decoding the whole state per row would cost its size).
void state_features(const uint8_t* data, size_t len, std::vector<std::string>& names, int& n_numeric);
// The number of features and of numeric features of an encoded state, from its header alone.
void state_widths(const uint8_t* data, size_t len, int& n_features, int& n_numeric);
// The options text of an encoded state, read from its header (for the transforms of its rows).
std::string state_options(const uint8_t* data, size_t len);

std::vector<uint8_t> encode_state(const FitParts& parts);
// The same, written into memory from allocate(size), 8-byte aligned (the glue's palloc: no copy).
void encode_state(const FitParts& parts, const std::function<uint8_t*(size_t)>& allocate);
// The seeded content hash of one row (numeric values with NaN and -0 canonical, each category by
// the seeded hash of its column and text): what the bottom-k sample orders rows by.
uint64_t row_hash(uint64_t seed, const double* numeric, int n_numeric, const uint64_t* category_hash, int n_categorical);
uint64_t category_hash(uint64_t seed, int column, const char* data, size_t len);
// borrow: read the sample in place (for finish and evaluate_k only; see FitParts::borrowed).
FitParts decode_state(const uint8_t* data, size_t len, bool borrow = false);

// A running state's memo of the categories it found, per categorical column (the first kColumns):
// up to kEntries texts of at most 16 bytes each, as their keys (text_key.h), with their level
// index. add_row looks a category up here before the state's level hash: a column of a few levels
// then costs a comparison or two per row instead of a hash and a probe. A column whose lookups
// mostly miss (more levels than entries) stops using it. Its indices belong to one state buffer:
// clear() whenever the buffer is replaced.
struct LevelMemo {
  static constexpr int kColumns = 16, kEntries = 8, kTrial = 256;
  struct Entry {
    TextKey key;
    int64_t id;
  };
  struct Column {
    Entry entry[kEntries];
    int count, lookups, misses;
    bool off;
    // The index of the category with this key, or -1. A lookup of the first kTrial that misses
    // counts against the column, which stops using the memo after kTrial / 2 of them.
    int find(const TextKey& key) {
      int id = -1;
      for (int e = 0; e < count && id < 0; ++e)
        if (entry[e].key == key) id = int(entry[e].id);
      if (lookups < kTrial) {
        ++lookups;
        if (id < 0 && ++misses > kTrial / 2) off = true;
      }
      return id;
    }
    // A category found in the state's level index, kept while there is room.
    void remember(const TextKey& key, int id) {
      if (count < kEntries) entry[count++] = {key, id};
    }
  };
  Column column[kColumns];
  void clear() {
    for (Column& c : column) c.count = c.lookups = c.misses = 0, c.off = false;
  }
};

// In-place access to an encoded state: the per-row fast path. A new category is added in place
// while the state has room for it. add_row returns false, having taken no row (though perhaps some
// of its new categories), when the row needs a structural change (FitParts::prepare, then encode
// anew) or more sample room.
class FitStateView {
 public:
  // validate = false only for a buffer this process encoded or already validated (the glue's
  // expanded state): the per-row path then reads no header copy and checks no section.
  FitStateView(uint8_t* data, size_t len, bool validate = true);
  // memo: the running state's (see LevelMemo), or none.
  bool add_row(const double* numeric, const StrRef* categorical, LevelMemo* memo = nullptr);
  // When add_row refused the row only because the sample room is full (every category known): the
  // length of this state with the room grown as FitParts::prepare would (fourfold, so n rows are
  // copied about n/3 rows' worth in all), else 0. grow_into then writes that state by copying:
  // encode_state(prepared parts) byte for byte up to the last sample entry; the sample room past
  // it is left as `out` held it (nothing reads it; the compact forms are equal).
  size_t grown_length(const StrRef* categorical) const;
  void grow_into(uint8_t* out, size_t out_len) const;
  void add_skipped();
  uint64_t seen() const;
  bool verbose() const;
  // Before the state leaves the scan (a parallel worker's or a shard's state, flattened): when the
  // sample holds more than sample_size entries, keeps the bottom sample_size (repeats merged), as
  // a compaction in the scan would. The state means the same rows, and the final model is the
  // same; it is smaller to send, and its merge sorts fewer entries. Not with dedupe, whose counts
  // are taken at the end.
  void compact_sample();

 private:
  int find_level(int cat, const StrRef& v) const;
  int add_level(int cat, const StrRef& v);  // the new id, or -1 when the room is full
  void fold_pending();
  void compact();
  uint8_t* base_;
  size_t len_;
};

// An owning state for the core's own tests and tools: the same path the aggregate takes.
class FitAccumulator {
 public:
  FitAccumulator(std::vector<std::string> names, int n_numeric, std::string options_json);
  void add_row(const double* numeric, const StrRef* categorical);
  void add_skipped();
  void merge(const FitAccumulator& other);
  Model finish(InterruptCheck check = nullptr) const;
  const std::vector<uint8_t>& bytes() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
  LevelMemo memo_;  // cleared by the constructor
};

}  // namespace custseg::core
