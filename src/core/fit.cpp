// The custseg_fit aggregate's core: feature planning, the flat state and its fast path, merging
// partial states, and the final fit.
//
// State layout (offsets from the buffer start; the first 8 bytes belong to the glue's varlena
// header): StateHeader, feature-name offsets and bytes, options text, category columns, offsets and
// bytes, the hash index (uint32 per slot: category id + 1, 0 = empty), moments N, A, M (dim x dim,
// column-major), pending rows (kPendingRows x width) and the sample (sample_cap entries of
// 2 + width doubles: hash, count, row).
#include "fit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <unordered_set>

#include "kmeans.h"
#include "metrics.h"
#include "pca.h"
#include "rng.h"

namespace custseg::core {

// ---- feature planning ----

FeaturePlan plan_features(const std::vector<ColumnInfo>& columns, const FitOptions& opt) {
  auto exists = [&](const std::string& n) {
    for (const auto& c : columns)
      if (c.name == n) return true;
    return false;
  };
  auto listed = [](const std::vector<std::string>& list, const std::string& n) {
    return std::find(list.begin(), list.end(), n) != list.end();
  };
  for (const auto* opt_list : {&opt.exclude, &opt.categorical, &opt.numeric}) {
    const char* key = opt_list == &opt.exclude ? "exclude" : opt_list == &opt.categorical ? "categorical" : "numeric";
    for (const auto& n : *opt_list)
      if (!exists(n))
        throw Error(ErrorCode::kUndefinedColumn,
                    "column \"" + n + "\" named in option \"" + key + "\" does not exist",
                    "column names are case-sensitive and must match the table's exactly");
  }
  FeaturePlan plan;
  std::vector<PlannedFeature> cats;
  for (int i = 0; i < int(columns.size()); ++i) {
    const ColumnInfo& c = columns[size_t(i)];
    if (listed(opt.exclude, c.name)) continue;
    PlannedFeature f;
    f.column = i;
    if (listed(opt.categorical, c.name)) {
      f.kind = Kind::kCategorical;
      f.convert = c.type != ColumnType::kText;
    } else if (listed(opt.numeric, c.name)) {
      if (c.type == ColumnType::kOther)
        throw Error(ErrorCode::kDatatypeMismatch,
                    "column \"" + c.name + "\" of type " + c.type_name + " cannot be used as a numeric feature",
                    "cast it to a number in a view, or list it in \"exclude\"");
      f.kind = Kind::kNumeric;
      f.convert = c.type == ColumnType::kText;
    } else if (c.type == ColumnType::kNumber || c.type == ColumnType::kBool) {
      f.kind = Kind::kNumeric;
    } else if (c.type == ColumnType::kText) {
      f.kind = Kind::kCategorical;
    } else {
      throw Error(ErrorCode::kDatatypeMismatch,
                  "column \"" + c.name + "\" of type " + c.type_name + " cannot be used as a feature",
                  "list it in \"exclude\", name it in \"categorical\", or cast it to a number or text in a view");
    }
    if (f.kind == Kind::kNumeric)
      plan.features.push_back(f);
    else
      cats.push_back(f);
  }
  plan.n_numeric = int(plan.features.size());
  plan.features.insert(plan.features.end(), cats.begin(), cats.end());
  if (plan.features.empty())
    throw Error(ErrorCode::kInvalidArgument, "no usable feature column",
                "the row needs at least one numeric or text column that is not excluded");
  if (int(plan.features.size()) > kMaxFeatures)
    throw Error(ErrorCode::kProgramLimit, "too many feature columns: " + std::to_string(plan.features.size()),
                "custseg uses at most " + std::to_string(kMaxFeatures) + " encoded columns");
  for (const auto& f : plan.features) plan.names.push_back(columns[size_t(f.column)].name);
  return plan;
}

// ---- the flat state ----

namespace {

constexpr uint32_t kStateMagic = 0x53475343;  // "CSGS"
constexpr uint32_t kStateVersion = 2;
constexpr size_t kReserved = 8;
constexpr int kExtra = FitParts::kEntryExtra;

struct StateHeader {
  uint32_t magic, version;
  uint32_t n_features, n_numeric;
  uint32_t n_levels, dim;
  uint32_t hash_size, pending_count;
  uint32_t flags, pad;  // kFlagVerbose | kFlagDedupe
  uint64_t sample_cap, sample_count;
  int64_t sample_size;
  uint64_t seen, skipped, used;
  uint64_t hash_seed, threshold;
  double moments_n;
  uint64_t off_name_off, off_name_bytes, name_bytes_len;
  uint64_t off_options, options_len;
  uint64_t off_level_col, off_level_off, off_level_bytes, level_bytes_len;
  uint64_t off_level_hash;
  uint64_t off_hash;
  uint64_t off_N, off_A, off_M;
  uint64_t off_pending, off_sample;
  uint64_t total_len;
};

constexpr uint32_t kFlagVerbose = 1, kFlagDedupe = 2;

uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t bits_of(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// A number's bits with every NaN one NaN and -0 as +0: equal values, equal bits.
uint64_t canonical_bits(double v) {
  return std::isnan(v) ? 0x7ff8000000000000ULL : bits_of(v + 0.0);
}

uint64_t entry_word(const double* e, int i) { return bits_of(e[i]); }
void set_entry_word(double* e, int i, uint64_t x) { std::memcpy(e + i, &x, sizeof x); }

// Raw rows (numeric values, then category ids or -1; `stride` doubles apart) to moment columns:
// numeric values, then one 0/1 column per category id.
RowMatrix encode_raw_rows(const double* rows, size_t count, size_t stride, int width, int n_numeric, int dim) {
  RowMatrix X = RowMatrix::Zero(Eigen::Index(count), dim);
  for (size_t r = 0; r < count; ++r) {
    const double* row = rows + r * stride;
    for (int j = 0; j < n_numeric; ++j) X(Eigen::Index(r), j) = row[j];
    for (int c = n_numeric; c < width; ++c)
      if (row[c] >= 0) X(Eigen::Index(r), n_numeric + int(row[c])) = 1.0;
  }
  return X;
}

size_t align8(size_t n) { return (n + 7) & ~size_t(7); }

[[noreturn]] void bad_state(const char* what) {
  throw Error(ErrorCode::kInvalidBinary, std::string("invalid custseg_fit state: ") + what);
}

uint64_t hash_level(int cat, const char* data, size_t len) {
  uint64_t h = 1469598103934665603ULL ^ uint64_t(cat) * 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < len; ++i) {
    h ^= uint8_t(data[i]);
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

uint64_t null_category_hash(uint64_t seed, int column) { return fmix64(seed ^ (0x4E554C4CULL + uint64_t(column) * 0x9E3779B97F4A7C15ULL)); }

uint32_t hash_size_for(size_t levels) {
  uint32_t s = 16;
  while (s < 2 * (levels + 1)) s <<= 1;
  return s;
}

// The text of category ids, from a decoded or an encoded state.
struct LevelText {
  const std::vector<std::string>* strings = nullptr;
  const uint32_t* off = nullptr;
  const char* bytes = nullptr;
  std::pair<const char*, size_t> get(int id) const {
    if (strings) return {(*strings)[size_t(id)].data(), (*strings)[size_t(id)].size()};
    return {bytes + off[id], size_t(off[id + 1] - off[id])};
  }
};

// Canonical order of sample entries: hash, then content (numbers by their canonical bits, then each
// category: NULL first, then by text). Category ids are local to a state, so text decides.
int compare_entries(const double* a, const double* b, int w, int nn, const LevelText& lt) {
  const uint64_t ha = entry_word(a, 0), hb = entry_word(b, 0);
  if (ha != hb) return ha < hb ? -1 : 1;
  a += kExtra;
  b += kExtra;
  for (int j = 0; j < nn; ++j) {
    const uint64_t x = canonical_bits(a[j]), y = canonical_bits(b[j]);
    if (x != y) return x < y ? -1 : 1;
  }
  for (int c = nn; c < w; ++c) {
    const int ia = int(a[c]), ib = int(b[c]);
    if (ia < 0 || ib < 0) {
      if (ia != ib) return ia < ib ? -1 : 1;
      continue;
    }
    auto ta = lt.get(ia), tb = lt.get(ib);
    const int r = std::memcmp(ta.first, tb.first, std::min(ta.second, tb.second));
    if (r != 0) return r < 0 ? -1 : 1;
    if (ta.second != tb.second) return ta.second < tb.second ? -1 : 1;
  }
  return 0;
}

// Sorts (hash, entry) pairs by hash, then entry: a stable LSD radix sort on the hash, 8 bits per
// pass (256 buckets stay in cache; entries arrive in increasing order, so ties stay ordered by
// entry); passes where every key has the same digit are skipped.
void sort_by_hash(std::vector<std::pair<uint64_t, uint64_t>>& keys) {
  const size_t n = keys.size();
  if (n < 2) return;
  if (n < 512) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  std::vector<std::pair<uint64_t, uint64_t>> tmp(n);
  size_t count[8][257] = {};
  for (size_t i = 0; i < n; ++i)
    for (int d = 0; d < 8; ++d) ++count[d][((keys[i].first >> (8 * d)) & 0xFF) + 1];
  for (int d = 0; d < 8; ++d) {
    size_t* c = count[d];
    if (c[((keys[0].first >> (8 * d)) & 0xFF) + 1] == n) continue;
    for (int b = 1; b < 257; ++b) c[b] += c[b - 1];
    for (size_t i = 0; i < n; ++i) tmp[c[(keys[i].first >> (8 * d)) & 0xFF]++] = keys[i];
    keys.swap(tmp);
  }
}

struct Distinct {
  std::vector<uint64_t> first;  // index of the first entry of each distinct content, canonical order
  std::vector<uint64_t> count;  // rows of that content (summed over its entries)
};

// The distinct contents among the entries at or under `threshold`, in canonical order, at most
// `limit` of them (the smallest); *cut receives the hash of the last one kept when some were cut.
Distinct distinct_entries(const double* data, uint64_t n, int w, int nn, const LevelText& lt, uint64_t threshold,
                          uint64_t limit, bool* cut, uint64_t* cut_hash) {
  const size_t ew = size_t(w + kExtra);
  std::vector<std::pair<uint64_t, uint64_t>> keys;  // (hash, entry): sorted by hash in one cache-friendly pass
  keys.reserve(size_t(n));
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t h = entry_word(data + i * ew, 0);
    if (h <= threshold) keys.emplace_back(h, i);
  }
  sort_by_hash(keys);
  Distinct d;
  *cut = false;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j].first == keys[i].first) ++j;
    if (j - i > 1) {
      // Equal hashes: repeated rows (or, rarely, a collision): order the run by content.
      std::sort(keys.begin() + long(i), keys.begin() + long(j), [&](const auto& x, const auto& y) {
        const int c = compare_entries(data + x.second * ew, data + y.second * ew, w, nn, lt);
        return c != 0 ? c < 0 : x.second < y.second;
      });
    }
    for (size_t r = i; r < j; ++r) {
      const double* e = data + keys[r].second * ew;
      if (r > i && compare_entries(data + d.first.back() * ew, e, w, nn, lt) == 0) {
        d.count.back() += entry_word(e, 1);
        continue;
      }
      if (d.first.size() == limit) {
        *cut = true;
        *cut_hash = entry_word(data + d.first.back() * ew, 0);
        return d;
      }
      d.first.push_back(keys[r].second);
      d.count.push_back(entry_word(e, 1));
    }
    i = j;
  }
  return d;
}

[[noreturn]] void too_many_distinct(int64_t sample_size) {
  throw Error(ErrorCode::kProgramLimit, "dedupe found more than " + std::to_string(sample_size) + " distinct rows",
              "dedupe keeps every distinct row in memory: raise \"sample_size\" or train without \"dedupe\"");
}

// Compacts `n` entries in place: equal contents merged into one entry with the summed count, the
// sample_size smallest kept, the threshold lowered when some were dropped. Returns the new count.
uint64_t compact_entries(double* data, uint64_t n, int w, int nn, const LevelText& lt, int64_t sample_size,
                         bool dedupe, uint64_t& threshold) {
  bool cut = false;
  uint64_t cut_hash = 0;
  Distinct d = distinct_entries(data, n, w, nn, lt, threshold, dedupe ? UINT64_MAX : uint64_t(sample_size), &cut,
                                &cut_hash);
  if (dedupe && int64_t(d.first.size()) > sample_size) too_many_distinct(sample_size);
  if (cut) threshold = std::min(threshold, cut_hash);
  const size_t ew = size_t(w + kExtra);
  std::vector<char> keep(size_t(n), 0);
  for (size_t i = 0; i < d.first.size(); ++i) {
    keep[size_t(d.first[i])] = 1;
    set_entry_word(data + d.first[i] * ew, 1, d.count[i]);
  }
  uint64_t out = 0;
  for (uint64_t r = 0; r < n; ++r) {
    if (!keep[size_t(r)]) continue;
    if (r != out) std::memcpy(data + out * ew, data + r * ew, sizeof(double) * ew);
    ++out;
  }
  return out;
}

// When the sample's room should grow: it is full, or a compaction left it more than 3/4 full
// (add_row compacts a full room first once it holds sample_size entries).
bool wants_room(uint64_t count, uint64_t cap, int64_t sample_size) {
  return cap < sample_room(sample_size) && (count == cap || 4 * count > 3 * cap);
}

uint64_t grown_cap(int64_t sample_size, uint64_t cap) {
  return std::min<uint64_t>(sample_room(sample_size), std::max<uint64_t>(1024, 4 * cap));
}

StateHeader read_header(const uint8_t* data, size_t len) {
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) bad_state("misaligned");
  if (len < kReserved + sizeof(StateHeader)) bad_state("too short");
  StateHeader h;
  std::memcpy(&h, data + kReserved, sizeof h);
  if (h.magic != kStateMagic) bad_state("bad magic number");
  if (h.version != kStateVersion) bad_state("unsupported version");
  if (h.total_len != len) bad_state("length mismatch");
  if (h.n_features < 1 || h.n_features > uint32_t(kMaxFeatures) || h.n_numeric > h.n_features ||
      h.dim != h.n_numeric + h.n_levels || h.dim > uint32_t(kMaxFeatures) || h.sample_count > h.sample_cap ||
      h.pending_count > uint32_t(FitParts::kPendingRows) || h.hash_size < 16 || (h.hash_size & (h.hash_size - 1)) ||
      h.flags > 3 || h.sample_size < 0 || h.sample_cap > sample_room(h.sample_size))
    bad_state("bad header");
  return h;
}

// Every section inside the buffer and past the header. Why the lower bound: rows are written in
// place at these offsets, so a section over the header (a crafted INITCOND) would let row values
// rewrite the offsets themselves. Checked on every row too (the glue may not decode first).
void check_sections(const StateHeader& h, size_t len) {
  const uint64_t w = h.n_features, nl = h.n_levels, dim = h.dim, ew = w + kExtra;
  auto check = [&](uint64_t off, uint64_t bytes) {
    if (off % 8 != 0 || off < kReserved + sizeof(StateHeader) || off > len || bytes > len - off)
      bad_state("section out of bounds");
  };
  check(h.off_name_off, 4 * (w + 1));
  check(h.off_name_bytes, h.name_bytes_len);
  check(h.off_options, h.options_len);
  check(h.off_level_col, 4 * nl);
  check(h.off_level_off, 4 * (nl + 1));
  check(h.off_level_bytes, h.level_bytes_len);
  check(h.off_level_hash, 8 * nl);
  check(h.off_hash, 4 * uint64_t(h.hash_size));
  check(h.off_N, 8 * dim * dim);
  check(h.off_A, 8 * dim * dim);
  check(h.off_M, 8 * dim * dim);
  check(h.off_pending, 8 * w * FitParts::kPendingRows);
  check(h.off_sample, 8 * ew * h.sample_cap);
}

}  // namespace

uint64_t category_hash(uint64_t seed, int column, const char* data, size_t len) {
  return fmix64(hash_level(column, data, len) ^ seed);
}

uint64_t row_hash(uint64_t seed, const double* numeric, int n_numeric, const uint64_t* cat_hash, int n_categorical) {
  uint64_t h = seed;
  for (int j = 0; j < n_numeric; ++j) {
    h = (h ^ canonical_bits(numeric[j])) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  for (int c = 0; c < n_categorical; ++c) {
    h = (h ^ cat_hash[c]) * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 31;
  }
  return fmix64(h);
}

FitParts::FitParts(std::vector<std::string> names_in, int n_numeric_in, std::string options_in)
    : names(std::move(names_in)), n_numeric(n_numeric_in), options_json(std::move(options_in)),
      moments(n_numeric_in) {
  FitOptions o = parse_fit_options(options_json);
  // Only k-means needs rows; dedupe needs every distinct row. Rows are bounded in bytes: an entry
  // is 8 bytes per feature column plus 16, and the room is 1.5 times the sample.
  const int64_t entry_bytes = 8 * (int64_t(std::max<size_t>(names.size(), 1)) + kExtra);
  const int64_t max_rows = kMaxReservoirBytes * 2 / (3 * entry_bytes);
  if (o.sample_size_set && o.sample_size > max_rows)
    throw Error(ErrorCode::kProgramLimit,
                "sample_size " + std::to_string(o.sample_size) + " is too large for " + std::to_string(names.size()) +
                    " feature columns",
                "at most " + std::to_string(max_rows) + " rows of this width fit in custseg's " +
                    std::to_string(kMaxReservoirBytes >> 20) + " MB sample");
  sample_size = (o.k > 0 || o.dedupe) ? std::min(o.sample_size, max_rows) : 0;
  verbose = o.verbose;
  dedupe = o.dedupe;
  Rng r(o.seed ^ 0x5EED5A3B1E5ULL);
  hash_seed = r.next();
}

size_t compact_state_length(const uint8_t* b, size_t len) {
  StateHeader h = read_header(b, len);
  check_sections(h, len);
  return size_t(h.off_sample) + 8 * size_t(h.n_features + kExtra) * size_t(h.sample_count);
}

void compact_state_into(const uint8_t* b, size_t len, uint8_t* out, size_t out_len) {
  StateHeader h = read_header(b, len);
  check_sections(h, len);
  const size_t want = size_t(h.off_sample) + 8 * size_t(h.n_features + kExtra) * size_t(h.sample_count);
  if (out_len != want) throw Error(ErrorCode::kInternal, "custseg: compact state length mismatch");
  std::memset(out, 0, kReserved);
  std::memcpy(out + kReserved, b + kReserved, want - kReserved);
  h.sample_cap = h.sample_count;
  h.total_len = want;
  std::memcpy(out + kReserved, &h, sizeof h);
}

void state_features(const uint8_t* b, size_t len, std::vector<std::string>& names, int& n_numeric) {
  StateHeader h = read_header(b, len);
  const size_t w = h.n_features;
  if (h.off_name_off % 4 != 0 || h.off_name_off < kReserved + sizeof(StateHeader) || h.off_name_off > len ||
      4 * (w + 1) > len - h.off_name_off || h.off_name_bytes > len || h.name_bytes_len > len - h.off_name_bytes)
    bad_state("section out of bounds");
  const uint32_t* name_off = reinterpret_cast<const uint32_t*>(b + h.off_name_off);
  names.clear();
  for (size_t i = 0; i < w; ++i) {
    if (name_off[i] > name_off[i + 1] || name_off[i + 1] > h.name_bytes_len) bad_state("bad name table");
    names.emplace_back(reinterpret_cast<const char*>(b + h.off_name_bytes + name_off[i]), name_off[i + 1] - name_off[i]);
  }
  n_numeric = int(h.n_numeric);
}

std::string state_options(const uint8_t* b, size_t len) {
  StateHeader h = read_header(b, len);
  if (h.off_options > len || h.options_len > len - h.off_options) bad_state("section out of bounds");
  return std::string(reinterpret_cast<const char*>(b + h.off_options), h.options_len);
}

std::vector<uint8_t> encode_state(const FitParts& p) {
  std::vector<uint8_t> buf;
  encode_state(p, [&buf](size_t len) {
    buf.assign(len, 0);
    return buf.data();
  });
  return buf;
}

void encode_state(const FitParts& p, const std::function<uint8_t*(size_t)>& allocate) {
  if (p.borrowed) throw Error(ErrorCode::kInternal, "custseg: a borrowed state cannot be encoded");
  const size_t w = size_t(p.row_width()), ew = size_t(p.entry_width());
  const size_t nl = p.levels.size();
  const size_t dim = size_t(p.n_numeric) + nl;
  if (dim > size_t(kMaxFeatures)) {
    // The message names the categorical column with the most levels: the one to exclude or group.
    std::vector<size_t> per_col(size_t(p.n_categorical()), 0);
    for (int c : p.level_col) ++per_col[size_t(c)];
    size_t worst = 0;
    for (size_t c = 1; c < per_col.size(); ++c)
      if (per_col[c] > per_col[worst]) worst = c;
    std::string culprit = " (" + std::to_string(p.n_numeric) + " numeric columns";
    if (!per_col.empty())
      culprit += "; column \"" + p.names[size_t(p.n_numeric) + worst] + "\" has the most categories: " +
                 std::to_string(per_col[worst]) + " so far";
    culprit += ")";
    throw Error(ErrorCode::kProgramLimit, "too many encoded columns: " + std::to_string(dim) + culprit,
                "custseg uses at most " + std::to_string(kMaxFeatures) +
                    " numeric columns and categories; exclude a column with many distinct values");
  }
  StateHeader h{};
  h.magic = kStateMagic;
  h.version = kStateVersion;
  h.n_features = uint32_t(w);
  h.n_numeric = uint32_t(p.n_numeric);
  h.n_levels = uint32_t(nl);
  h.dim = uint32_t(dim);
  h.hash_size = hash_size_for(nl);
  h.pending_count = uint32_t(p.pending.size() / w);
  h.sample_count = p.sample.size() / ew;
  h.sample_cap = std::max<uint64_t>(p.sample_cap, h.sample_count);
  h.sample_size = p.sample_size;
  h.seen = p.seen;
  h.skipped = p.skipped;
  h.used = p.used;
  h.hash_seed = p.hash_seed;
  h.threshold = p.threshold;
  h.moments_n = p.moments.count();
  h.flags = (p.verbose ? kFlagVerbose : 0) | (p.dedupe ? kFlagDedupe : 0);
  size_t name_bytes = 0, level_bytes = 0;
  for (const auto& n : p.names) name_bytes += n.size();
  for (const auto& l : p.levels) level_bytes += l.size();
  size_t off = kReserved + align8(sizeof(StateHeader));
  auto take = [&off](size_t bytes) {
    uint64_t o = off;
    off += align8(bytes);
    return o;
  };
  h.off_name_off = take(4 * (w + 1));
  h.off_name_bytes = take(name_bytes);
  h.name_bytes_len = name_bytes;
  h.off_options = take(p.options_json.size());
  h.options_len = p.options_json.size();
  h.off_level_col = take(4 * nl);
  h.off_level_off = take(4 * (nl + 1));
  h.off_level_bytes = take(level_bytes);
  h.level_bytes_len = level_bytes;
  h.off_level_hash = take(8 * nl);
  h.off_hash = take(4 * size_t(h.hash_size));
  h.off_N = take(8 * dim * dim);
  h.off_A = take(8 * dim * dim);
  h.off_M = take(8 * dim * dim);
  h.off_pending = take(8 * w * FitParts::kPendingRows);
  h.off_sample = take(8 * ew * size_t(h.sample_cap));
  h.total_len = off;
  if (off > (size_t(1) << 30) - 1024)
    throw Error(ErrorCode::kProgramLimit, "custseg_fit state would exceed 1 GB",
                "lower \"sample_size\" (rows kept for k-means)");

  uint8_t* b = allocate(off);
  std::memset(b, 0, off);
  std::memcpy(b + kReserved, &h, sizeof h);
  uint32_t* name_off = reinterpret_cast<uint32_t*>(b + h.off_name_off);
  uint32_t pos = 0;
  for (size_t i = 0; i < w; ++i) {
    name_off[i] = pos;
    std::memcpy(b + h.off_name_bytes + pos, p.names[i].data(), p.names[i].size());
    pos += uint32_t(p.names[i].size());
  }
  name_off[w] = pos;
  if (!p.options_json.empty()) std::memcpy(b + h.off_options, p.options_json.data(), p.options_json.size());
  uint32_t* lcol = reinterpret_cast<uint32_t*>(b + h.off_level_col);
  uint32_t* loff = reinterpret_cast<uint32_t*>(b + h.off_level_off);
  uint64_t* lhash = reinterpret_cast<uint64_t*>(b + h.off_level_hash);
  uint32_t* hash = reinterpret_cast<uint32_t*>(b + h.off_hash);
  pos = 0;
  for (size_t i = 0; i < nl; ++i) {
    lcol[i] = uint32_t(p.level_col[i]);
    loff[i] = pos;
    std::memcpy(b + h.off_level_bytes + pos, p.levels[i].data(), p.levels[i].size());
    pos += uint32_t(p.levels[i].size());
    lhash[i] = category_hash(p.hash_seed, p.level_col[i], p.levels[i].data(), p.levels[i].size());
    uint32_t slot = uint32_t(hash_level(p.level_col[i], p.levels[i].data(), p.levels[i].size())) & (h.hash_size - 1);
    while (hash[slot] != 0) slot = (slot + 1) & (h.hash_size - 1);
    hash[slot] = uint32_t(i + 1);
  }
  loff[nl] = pos;
  if (dim > 0) {
    std::memcpy(b + h.off_N, p.moments.N().data(), 8 * dim * dim);
    std::memcpy(b + h.off_A, p.moments.A().data(), 8 * dim * dim);
    std::memcpy(b + h.off_M, p.moments.M().data(), 8 * dim * dim);
  }
  if (!p.pending.empty()) std::memcpy(b + h.off_pending, p.pending.data(), 8 * p.pending.size());
  if (!p.sample.empty()) std::memcpy(b + h.off_sample, p.sample.data(), 8 * p.sample.size());
}

FitParts decode_state(const uint8_t* b, size_t len, bool borrow) {
  StateHeader h = read_header(b, len);
  const size_t w = h.n_features, nl = h.n_levels, dim = h.dim, ew = w + kExtra;
  check_sections(h, len);
  FitParts p;
  std::vector<std::string> names;
  int nn = 0;
  state_features(b, len, names, nn);
  p.names = std::move(names);
  p.n_numeric = nn;
  p.options_json.assign(reinterpret_cast<const char*>(b + h.off_options), h.options_len);
  p.sample_size = h.sample_size;
  p.seen = h.seen;
  p.skipped = h.skipped;
  p.used = h.used;
  p.hash_seed = h.hash_seed;
  p.threshold = h.threshold;
  const uint32_t* lcol = reinterpret_cast<const uint32_t*>(b + h.off_level_col);
  const uint32_t* loff = reinterpret_cast<const uint32_t*>(b + h.off_level_off);
  for (size_t i = 0; i < nl; ++i) {
    if (lcol[i] >= w - h.n_numeric || loff[i] > loff[i + 1] || loff[i + 1] > h.level_bytes_len)
      bad_state("bad category table");
    p.level_col.push_back(int(lcol[i]));
    p.levels.emplace_back(reinterpret_cast<const char*>(b + h.off_level_bytes + loff[i]), loff[i + 1] - loff[i]);
    p.level_hash.push_back(category_hash(p.hash_seed, p.level_col[i], p.levels[i].data(), p.levels[i].size()));
  }
  {
    std::set<std::pair<int, std::string>> seen_levels;
    for (size_t i = 0; i < nl; ++i)
      if (!seen_levels.emplace(p.level_col[i], p.levels[i]).second) bad_state("duplicate category");
  }
  try {
    parse_fit_options(p.options_json);
  } catch (const Error&) {
    bad_state("bad options");
  }
  p.moments = Moments::from_raw(h.moments_n, reinterpret_cast<const double*>(b + h.off_N),
                                reinterpret_cast<const double*>(b + h.off_A),
                                reinterpret_cast<const double*>(b + h.off_M), int(dim));
  const double* pend = reinterpret_cast<const double*>(b + h.off_pending);
  for (uint64_t r = 0; r < h.pending_count; ++r)
    for (size_t col = h.n_numeric; col < w; ++col) {
      const double id = pend[r * w + col];
      if (!(id == -1 || (id >= 0 && id < double(nl) && id == std::floor(id)))) bad_state("bad category id");
    }
  p.pending.assign(pend, pend + w * h.pending_count);
  const double* res = reinterpret_cast<const double*>(b + h.off_sample);
  // Counts never exceed the rows they count (which also bounds the final draw's work).
  uint64_t counted = 0;
  for (uint64_t r = 0; r < h.sample_count; ++r) {
    const double* e = res + r * ew;
    const uint64_t c = entry_word(e, 1);
    if (c == 0 || c > h.seen || counted + c > h.seen) bad_state("bad sample count");
    counted += c;
    for (size_t col = h.n_numeric; col < w; ++col) {
      const double id = e[kExtra + col];
      if (!(id == -1 || (id >= 0 && id < double(nl) && id == std::floor(id)))) bad_state("bad category id");
    }
  }
  if (borrow) {
    p.borrowed = res;
    p.borrowed_entries = h.sample_count;
  } else {
    p.sample.assign(res, res + ew * h.sample_count);
  }
  p.sample_cap = h.sample_cap;
  p.verbose = h.flags & kFlagVerbose;
  p.dedupe = h.flags & kFlagDedupe;
  return p;
}

// ---- the fast path ----

FitStateView::FitStateView(uint8_t* data, size_t len, bool validate) : base_(data), len_(len) {
  if (validate) check_sections(read_header(data, len), len);
}

int FitStateView::find_level(int cat, const StrRef& v) const {
  const StateHeader* h = reinterpret_cast<const StateHeader*>(base_ + kReserved);
  const uint32_t* hash = reinterpret_cast<const uint32_t*>(base_ + h->off_hash);
  const uint32_t* lcol = reinterpret_cast<const uint32_t*>(base_ + h->off_level_col);
  const uint32_t* loff = reinterpret_cast<const uint32_t*>(base_ + h->off_level_off);
  const char* bytes = reinterpret_cast<const char*>(base_ + h->off_level_bytes);
  uint32_t slot = uint32_t(hash_level(cat, v.data, v.len)) & (h->hash_size - 1);
  while (hash[slot] != 0) {
    uint32_t id = hash[slot] - 1;
    if (id >= h->n_levels) bad_state("bad category index");
    if (lcol[id] == uint32_t(cat) && loff[id + 1] - loff[id] == v.len &&
        (v.len == 0 || std::memcmp(bytes + loff[id], v.data, v.len) == 0))
      return int(id);
    slot = (slot + 1) & (h->hash_size - 1);
  }
  return -1;
}

void FitStateView::fold_pending() {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  const int dim = int(h->dim);
  const double* pend = reinterpret_cast<const double*>(base_ + h->off_pending);
  double* N = reinterpret_cast<double*>(base_ + h->off_N);
  double* A = reinterpret_cast<double*>(base_ + h->off_A);
  double* M = reinterpret_cast<double*>(base_ + h->off_M);
  Moments m = Moments::from_raw(h->moments_n, N, A, M, dim);
  m.add_raw(pend, h->pending_count, h->n_features, int(h->n_features), int(h->n_numeric));
  std::memcpy(N, m.N().data(), sizeof(double) * size_t(dim) * size_t(dim));
  std::memcpy(A, m.A().data(), sizeof(double) * size_t(dim) * size_t(dim));
  std::memcpy(M, m.M().data(), sizeof(double) * size_t(dim) * size_t(dim));
  h->moments_n = m.count();
  h->pending_count = 0;
}

void FitStateView::compact() {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  LevelText lt;
  lt.off = reinterpret_cast<const uint32_t*>(base_ + h->off_level_off);
  lt.bytes = reinterpret_cast<const char*>(base_ + h->off_level_bytes);
  double* data = reinterpret_cast<double*>(base_ + h->off_sample);
  const bool dedupe = h->flags & kFlagDedupe;
  uint64_t threshold = h->threshold;
  const uint64_t n = compact_entries(data, h->sample_count, int(h->n_features), int(h->n_numeric), lt, h->sample_size,
                                     dedupe, threshold);
  const size_t ew = size_t(h->n_features) + kExtra;
  std::memset(data + n * ew, 0, sizeof(double) * ew * size_t(h->sample_count - n));
  h->sample_count = n;
  h->threshold = threshold;
  if (dedupe) h->used = n;
}

size_t FitStateView::grown_length(const StrRef* categorical) const {
  const StateHeader* h = reinterpret_cast<const StateHeader*>(base_ + kReserved);
  if (!wants_room(h->sample_count, h->sample_cap, h->sample_size)) return 0;
  const int w = int(h->n_features), nn = int(h->n_numeric);
  for (int c = 0; c < w - nn; ++c)
    if (!categorical[c].is_null && find_level(c, categorical[c]) < 0) return 0;
  // FitParts::prepare's rule for the new room.
  const uint64_t cap = grown_cap(h->sample_size, h->sample_cap);
  const size_t len = size_t(h->off_sample) + 8 * size_t(w + kExtra) * size_t(cap);
  if (len > (size_t(1) << 30) - 1024)
    throw Error(ErrorCode::kProgramLimit, "custseg_fit state would exceed 1 GB",
                "lower \"sample_size\" (rows kept for k-means)");
  return len;
}

void FitStateView::grow_into(uint8_t* out, size_t out_len) const {
  const StateHeader* h = reinterpret_cast<const StateHeader*>(base_ + kReserved);
  const size_t w = h->n_features, ew = w + kExtra;
  const size_t used = size_t(h->off_sample) + 8 * ew * size_t(h->sample_count);
  std::memcpy(out, base_, used);
  // Unused room is zero, as encode_state leaves it: rows past the pending ones and past the sample's.
  const size_t pending_used = size_t(h->off_pending) + 8 * w * h->pending_count;
  std::memset(out + pending_used, 0, 8 * w * (size_t(FitParts::kPendingRows) - h->pending_count));
  std::memset(out + used, 0, out_len - used);
  StateHeader* g = reinterpret_cast<StateHeader*>(out + kReserved);
  g->sample_cap = (out_len - size_t(h->off_sample)) / (8 * ew);
  g->total_len = out_len;
}

uint64_t FitStateView::seen() const { return reinterpret_cast<const StateHeader*>(base_ + kReserved)->seen; }
bool FitStateView::verbose() const {
  return reinterpret_cast<const StateHeader*>(base_ + kReserved)->flags & kFlagVerbose;
}

void FitStateView::add_skipped() {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  ++h->seen;
  ++h->skipped;
}

bool FitStateView::add_row(const double* numeric, const StrRef* categorical) {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  const int w = int(h->n_features), nn = int(h->n_numeric);
  bool any = false;
  for (int j = 0; j < nn && !any; ++j) any = !std::isnan(numeric[j]);
  for (int c = 0; c < w - nn && !any; ++c) any = !categorical[c].is_null;
  if (!any) {
    add_skipped();
    return true;
  }
  double ids[kMaxFeatures];
  uint64_t chash[kMaxFeatures];
  const uint64_t* lhash = reinterpret_cast<const uint64_t*>(base_ + h->off_level_hash);
  for (int c = 0; c < w - nn; ++c) {
    if (categorical[c].is_null) {
      ids[c] = -1;
      chash[c] = null_category_hash(h->hash_seed, c);
      continue;
    }
    int id = find_level(c, categorical[c]);
    if (id < 0) return false;
    ids[c] = id;
    chash[c] = lhash[id];
  }
  const bool dedupe = h->flags & kFlagDedupe;
  bool candidate = false;
  uint64_t rh = 0;
  if (h->sample_size > 0) {
    rh = row_hash(h->hash_seed, numeric, nn, chash, w - nn);
    candidate = rh <= h->threshold;
    if (candidate && h->sample_count == h->sample_cap) {
      // Full: below the sample size, grow; else merge repeats and drop what is above the sample
      // first, and grow when that freed little.
      if (h->sample_count < uint64_t(h->sample_size) && h->sample_cap < sample_room(h->sample_size)) return false;
      compact();
      if (wants_room(h->sample_count, h->sample_cap, h->sample_size)) return false;
      candidate = rh <= h->threshold;
    }
  }
  // Committed from here on.
  ++h->seen;
  ++h->used;
  if (candidate) {
    double* e = reinterpret_cast<double*>(base_ + h->off_sample) + size_t(h->sample_count) * size_t(w + kExtra);
    set_entry_word(e, 0, rh);
    set_entry_word(e, 1, 1);
    std::memcpy(e + kExtra, numeric, sizeof(double) * size_t(nn));
    std::memcpy(e + kExtra + nn, ids, sizeof(double) * size_t(w - nn));
    ++h->sample_count;
  }
  if (dedupe) return true;  // the moments are those of the distinct rows, taken at the end
  double* pend = reinterpret_cast<double*>(base_ + h->off_pending) + size_t(h->pending_count) * size_t(w);
  std::memcpy(pend, numeric, sizeof(double) * size_t(nn));
  std::memcpy(pend + nn, ids, sizeof(double) * size_t(w - nn));
  ++h->pending_count;
  if (h->pending_count == uint32_t(FitParts::kPendingRows)) fold_pending();
  return true;
}

// ---- structural changes and merging ----

void FitParts::prepare(const StrRef* categorical) {
  const int nc = n_categorical();
  for (int c = 0; c < nc; ++c) {
    const StrRef& v = categorical[c];
    if (v.is_null) continue;
    bool found = false;
    for (size_t i = 0; i < levels.size() && !found; ++i)
      found = level_col[i] == c && levels[i].size() == v.len && (v.len == 0 || std::memcmp(levels[i].data(), v.data, v.len) == 0);
    if (found) continue;
    int count = 0;
    for (int lc : level_col) count += lc == c;
    if (count >= kMaxLevelsPerColumn)
      throw Error(ErrorCode::kProgramLimit,
                  "column \"" + names[size_t(n_numeric + c)] + "\" has more than " +
                      std::to_string(kMaxLevelsPerColumn) + " distinct values",
                  "exclude it, or group its values into fewer categories in a view");
    level_col.push_back(c);
    levels.emplace_back(v.data, v.len);
    level_hash.push_back(category_hash(hash_seed, c, v.data, v.len));
    moments.extend(1);
  }
  const uint64_t entries = sample.size() / size_t(entry_width());
  if (wants_room(entries, sample_cap, sample_size)) sample_cap = grown_cap(sample_size, sample_cap);
}

RowMatrix FitParts::encode_rows(const double* rows, size_t count, size_t stride) const {
  return encode_raw_rows(rows, count, stride, row_width(), n_numeric, moments.dim());
}

void FitParts::fold_pending() {
  const size_t rows = pending.size() / size_t(row_width());
  if (rows == 0) return;
  moments.add_raw(pending.data(), rows, size_t(row_width()), row_width(), n_numeric);
  pending.clear();
}

void FitParts::compact() {
  if (borrowed) throw Error(ErrorCode::kInternal, "custseg: a borrowed state cannot be compacted");
  LevelText lt;
  lt.strings = &levels;
  const uint64_t n = compact_entries(sample.data(), sample_entries(), row_width(), n_numeric, lt, sample_size, dedupe,
                                     threshold);
  sample.resize(size_t(n) * size_t(entry_width()));
  if (dedupe) used = n;
}

void FitParts::merge(FitParts& o) {
  if (borrowed || o.borrowed) throw Error(ErrorCode::kInternal, "custseg: a borrowed state cannot be merged");
  if (o.names != names || o.n_numeric != n_numeric || o.options_json != options_json || o.hash_seed != hash_seed)
    throw Error(ErrorCode::kDimensionMismatch, "cannot combine custseg_fit states of different tables or options");
  fold_pending();
  o.fold_pending();
  const int w = row_width(), ew = entry_width();
  // Map the other side's category ids into ours, adding the ones we have not seen.
  std::vector<int> map(o.levels.size());
  const int added_before = int(levels.size());
  for (size_t i = 0; i < o.levels.size(); ++i) {
    int found = -1;
    for (size_t j = 0; j < levels.size() && found < 0; ++j)
      if (level_col[j] == o.level_col[i] && levels[j] == o.levels[i]) found = int(j);
    if (found < 0) {
      level_col.push_back(o.level_col[i]);
      levels.push_back(o.levels[i]);
      level_hash.push_back(o.level_hash[i]);
      found = int(levels.size()) - 1;
    }
    map[i] = found;
  }
  if (int(levels.size()) > added_before) moments.extend(int(levels.size()) - added_before);
  // The other side's moments, embedded in our columns: categories it never saw are zero columns.
  Moments om = o.moments;
  const int extra = int(levels.size() - o.levels.size());
  if (extra > 0) om.extend(extra);
  std::vector<int> perm(size_t(n_numeric) + levels.size(), -1);
  for (int j = 0; j < n_numeric; ++j) perm[size_t(j)] = j;
  std::vector<bool> taken(levels.size(), false);
  for (size_t i = 0; i < map.size(); ++i) {
    perm[size_t(n_numeric + map[i])] = n_numeric + int(i);
    taken[size_t(map[i])] = true;
  }
  int next = n_numeric + int(o.levels.size());
  for (size_t j = 0; j < levels.size(); ++j)
    if (!taken[j]) perm[size_t(n_numeric) + j] = next++;
  om.permute(perm);
  moments.merge(om);
  // Samples: the bottom k of the union is the bottom k of the two bottom-k sets, under the lower
  // of the two thresholds (the side that dropped rows dropped all above its threshold).
  std::vector<double>& theirs = o.sample;  // o is consumed: its ids are remapped in place
  for (size_t r = 0; r < theirs.size() / size_t(ew); ++r)
    for (int c = n_numeric; c < w; ++c) {
      double& id = theirs[r * size_t(ew) + size_t(kExtra + c)];
      if (id >= 0) id = map[size_t(id)];
    }
  sample.reserve(sample.size() + theirs.size());
  sample.insert(sample.end(), theirs.begin(), theirs.end());
  std::vector<double>().swap(theirs);
  threshold = std::min(threshold, o.threshold);
  used += o.used;
  compact();
  sample_cap = sample_entries();
  seen += o.seen;
  skipped += o.skipped;
}

SampleDraw draw_sample(const FitParts& p, uint64_t seed) {
  LevelText lt;
  lt.strings = &p.levels;
  bool cut = false;
  uint64_t cut_hash = 0;
  Distinct d = distinct_entries(p.sample_data(), p.sample_entries(), p.row_width(), p.n_numeric, lt, p.threshold,
                                p.dedupe ? UINT64_MAX : uint64_t(p.sample_size), &cut, &cut_hash);
  if (p.dedupe && int64_t(d.first.size()) > p.sample_size) too_many_distinct(p.sample_size);
  SampleDraw out;
  out.entry = std::move(d.first);
  out.copies = std::move(d.count);
  if (p.dedupe) {
    std::fill(out.copies.begin(), out.copies.end(), 1);
    out.rows = out.copies.size();
    return out;
  }
  uint64_t total = 0;
  for (uint64_t c : out.copies) total += c;
  const uint64_t s = uint64_t(std::max<int64_t>(p.sample_size, 0));
  if (total <= s) {
    out.rows = total;
    return out;
  }
  // More kept rows than the sample (repeated rows): s of the `total` rows, uniformly without
  // replacement (Floyd's algorithm), walked against the entries' running counts.
  Rng r(seed ^ 0xD12A5A3B1EULL);
  std::unordered_set<uint64_t> chosen;
  chosen.reserve(size_t(s) * 2);
  for (uint64_t j = total - s; j < total; ++j) {
    const uint64_t t = r.below(j + 1);
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  std::vector<uint64_t> pos(chosen.begin(), chosen.end());
  std::sort(pos.begin(), pos.end());
  uint64_t start = 0;
  size_t k = 0;
  for (size_t i = 0; i < out.copies.size(); ++i) {
    const uint64_t end = start + out.copies[i];
    uint64_t take = 0;
    while (k < pos.size() && pos[k] < end) ++take, ++k;
    out.copies[i] = take;
    start = end;
  }
  out.rows = s;
  return out;
}

// ---- the final fit ----

namespace {

bool bytes_less(const std::string& a, const std::string& b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c < 0 || (c == 0 && a.size() < b.size());
}

// Row indices in lexicographic order of the rows' values (ties by index): a canonical order that
// does not depend on how the rows arrived, and that a chain of stage aggregates reproduces. A stable
// radix sort on the first column does most of the work; runs that tie on it are then sorted by the
// remaining columns.
std::vector<size_t> canonical_order(const RowMatrix& X) {
  const size_t n = size_t(X.rows());
  const Eigen::Index p = X.cols();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  if (n < 2 || p == 0) return order;
  // Order-preserving unsigned keys of the first column (-0 and +0 are equal, as under <).
  std::vector<uint64_t> key(n), key2(n);
  std::vector<size_t> order2(n);
  for (size_t i = 0; i < n; ++i) {
    double v = X(Eigen::Index(i), 0) + 0.0;
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    key[i] = (b >> 63) ? ~b : (b | (uint64_t(1) << 63));
  }
  // LSD radix sort, 16 bits per pass, stable; passes where every key has the same digit are skipped.
  std::vector<size_t> count(65537);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (size_t i = 0; i < n; ++i) ++count[((key[i] >> shift) & 0xFFFF) + 1];
    if (count[((key[0] >> shift) & 0xFFFF) + 1] == n) continue;
    for (size_t d = 1; d < count.size(); ++d) count[d] += count[d - 1];
    for (size_t i = 0; i < n; ++i) {
      const size_t at = count[(key[i] >> shift) & 0xFFFF]++;
      key2[at] = key[i];
      order2[at] = order[i];
    }
    key.swap(key2);
    order.swap(order2);
  }
  if (p > 1) {
    auto rest_less = [&](size_t a, size_t b) {
      const double* ra = X.row(Eigen::Index(a)).data();
      const double* rb = X.row(Eigen::Index(b)).data();
      for (Eigen::Index j = 1; j < p; ++j)
        if (ra[j] != rb[j]) return ra[j] < rb[j];
      return a < b;
    };
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && key[j] == key[i]) ++j;
      if (j - i > 1) std::sort(order.begin() + long(i), order.begin() + long(j), rest_less);
      i = j;
    }
  }
  return order;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

FitParts::Prepared FitParts::prepare(const FitOptions& opt, bool need_rows, const std::function<void(const std::string&)>& say) {
  fold_pending();
  SampleDraw draw;
  if (need_rows || dedupe) draw = draw_sample(*this, opt.seed);
  if (dedupe) {
    // The moments of the distinct rows, which the sample holds in full, in canonical order.
    used = draw.rows;
    moments = Moments(moments.dim());
    const size_t ew = size_t(entry_width());
    constexpr size_t kBlock = 4096;
    std::vector<double> block;
    for (size_t i = 0; i < draw.entry.size(); i += kBlock) {
      const size_t m = std::min(kBlock, draw.entry.size() - i);
      block.resize(m * size_t(row_width()));
      for (size_t r = 0; r < m; ++r)
        std::memcpy(block.data() + r * size_t(row_width()), sample_data() + draw.entry[i + r] * ew + kExtra,
                    sizeof(double) * size_t(row_width()));
      moments.add_raw(block.data(), m, size_t(row_width()), row_width(), n_numeric);
    }
  }
  if (used == 0)
    throw Error(ErrorCode::kDataException, "no usable rows to train on",
                "all " + std::to_string(seen) + " rows had every feature NULL");
  const int w = row_width(), nc = n_categorical();
  const double n = double(used);
  say("custseg_fit: " + std::to_string(seen) + " rows scanned, " + std::to_string(skipped) + " skipped, " +
      (dedupe ? std::to_string(used) + " distinct, " : std::string()) + std::to_string(levels.size()) +
      " categories in " + std::to_string(nc) + " categorical columns");
  if (!names.empty()) {
    std::string list;
    for (size_t j = 0; j < names.size(); ++j) list += (j ? ", " : "") + names[j];
    say("custseg_fit: features " + list);
  }
  // The PCA and k-means stages work on the vectors they are given, unscaled.
  const bool standardize = opt.stage == Stage::kFit || opt.stage == Stage::kScaler;
  // Encoding order: numeric columns, then each categorical column's levels in sorted byte order.
  std::vector<int> perm;  // encoded column -> moment column
  std::vector<int> id_to_col(levels.size());
  Model m;
  m.scale_categoricals = opt.scale_categoricals;
  // The rows arrived transformed (see transform.h); the model replays the same transforms.
  const std::vector<Transform> transforms = resolve_transforms(opt.transforms, names, n_numeric);
  for (int j = 0; j < n_numeric; ++j) {
    perm.push_back(j);
    Feature f;
    f.name = names[size_t(j)];
    f.transform = transforms[size_t(j)];
    m.features.push_back(f);
  }
  for (int c = 0; c < nc; ++c) {
    std::vector<int> ids;
    for (size_t i = 0; i < levels.size(); ++i)
      if (level_col[i] == c) ids.push_back(int(i));
    std::sort(ids.begin(), ids.end(), [&](int a, int b) { return bytes_less(levels[size_t(a)], levels[size_t(b)]); });
    Feature f;
    f.name = names[size_t(n_numeric + c)];
    f.kind = Kind::kCategorical;
    if (ids.empty())
      throw Error(ErrorCode::kDataException, "column \"" + f.name + "\" has only NULL values",
                  "exclude it with {\"exclude\": [\"" + f.name + "\"]}");
    for (int id : ids) {
      id_to_col[size_t(id)] = int(perm.size());
      perm.push_back(n_numeric + id);
      f.levels.push_back(levels[size_t(id)]);
    }
    m.features.push_back(f);
  }
  const int d = int(perm.size());
  Moments mom = moments;
  mom.permute(perm);
  Vector mean = mom.mean(), var = mom.variance(), present = mom.present();
  m.mean.assign(size_t(d), 0.0);
  m.scale.assign(size_t(d), 1.0);
  const double eps = std::numeric_limits<double>::epsilon();
  for (int j = 0; j < d; ++j) {
    if (j < n_numeric && present(j) == 0)
      throw Error(ErrorCode::kDataException, "column \"" + names[size_t(j)] + "\" has only NULL values",
                  "exclude it with {\"exclude\": [\"" + names[size_t(j)] + "\"]}");
    // Values whose squares overflow a double leave no finite variance to standardize or project by.
    if (j < n_numeric && (!std::isfinite(mean(j)) || !std::isfinite(var(j))))
      throw Error(ErrorCode::kOutOfRange, "column \"" + names[size_t(j)] + "\" has values too large to standardize",
                  "its variance overflows a double; divide it by a power of ten in a view");
    if (j < n_numeric) m.features[size_t(j)].impute = mean(j);
    if (!standardize || (j >= n_numeric && !opt.scale_categoricals)) continue;  // one-hot columns stay 0/1
    m.mean[size_t(j)] = mean(j);
    // scikit-learn's constant-feature test: such a column keeps scale 1.
    const bool constant = var(j) <= n * eps * var(j) + (n * mean(j) * eps) * (n * mean(j) * eps);
    m.scale[size_t(j)] = constant ? 1.0 : std::sqrt(var(j));
  }
  Eigen::Map<const Vector> mv(m.mean.data(), d), sv(m.scale.data(), d);
  RowMatrix proj;  // encoded column -> output coordinates, applied after scaling
  Vector pca_mean;
  if (opt.has_pca()) {
    if (used < 2) throw Error(ErrorCode::kDataException, "PCA needs at least 2 rows", "train without PCA or on more rows");
    Eigen::MatrixXd cov = mom.covariance();
    Eigen::MatrixXd scov = cov.array() / (sv * sv.transpose()).array();
    PcaResult pr = pca_from_covariance(scov, opt.n_components, opt.variance_fraction);
    m.n_components = int(pr.components.rows());
    pca_mean = (mean - mv).cwiseQuotient(sv);
    m.pca_mean.assign(pca_mean.data(), pca_mean.data() + d);
    m.components.assign(pr.components.data(), pr.components.data() + pr.components.size());
    m.explained_variance.assign(pr.explained_variance.data(), pr.explained_variance.data() + m.n_components);
    m.explained_variance_ratio.assign(pr.explained_variance_ratio.data(),
                                      pr.explained_variance_ratio.data() + m.n_components);
    proj = pr.components;
    say("PCA: " + std::to_string(m.n_components) + " components explain " +
        fmt(100 * pr.explained_variance_ratio.sum()) + "% of the variance");
  }
  m.info.rows_seen = double(seen);
  m.info.rows_skipped = double(skipped);
  m.info.rows_used = n;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.info.inertia = m.info.n_iter = m.info.silhouette = m.info.silhouette_rows = nan;
  m.info.calinski_harabasz = m.info.davies_bouldin = nan;
  Prepared out;
  if (need_rows) {
    // The rows k-means sees: every row up to sample_size, else a uniform sample (draw_sample).
    const Eigen::Index rows = Eigen::Index(draw.rows);
    // Each row is encoded, scaled and projected on its own, in a fixed order of operations, so its
    // coordinates do not depend on where in the sample it sits (nor on a plan's row order).
    const bool pca = opt.has_pca();
    const Eigen::Index q = pca ? proj.rows() : d;
    RowMatrix Xa(rows, q);
    RowMatrix Xfa(pca && opt.metrics_in_features ? rows : 0, d);
    Vector z(d);
    Eigen::Index at = 0;
    const size_t ew = size_t(entry_width());
    for (size_t i = 0; i < draw.entry.size(); ++i) {
      if (draw.copies[i] == 0) continue;
      const double* row = sample_data() + draw.entry[i] * ew + kExtra;
      z.setZero();
      for (int j = 0; j < n_numeric; ++j) z(j) = std::isnan(row[j]) ? mean(j) : row[j];
      for (int c = n_numeric; c < w; ++c)
        if (row[c] >= 0) z(id_to_col[size_t(row[c])]) = 1.0;
      for (int j = 0; j < d; ++j) z(j) = (z(j) - mv(j)) / sv(j);
      double* out = Xa.row(at).data();
      if (!pca) {
        for (int j = 0; j < d; ++j) out[j] = z(j);
      } else {
        if (Xfa.rows()) Xfa.row(at) = z.transpose();
        for (int j = 0; j < d; ++j) z(j) -= pca_mean(j);
        for (Eigen::Index c = 0; c < q; ++c) {
          double acc = 0;
          for (int j = 0; j < d; ++j) acc += z(j) * proj(c, j);
          out[c] = acc;
        }
      }
      for (uint64_t copy = 1; copy < draw.copies[i]; ++copy) {
        Xa.row(at + Eigen::Index(copy)) = Xa.row(at);
        if (Xfa.rows()) Xfa.row(at + Eigen::Index(copy)) = Xfa.row(at);
      }
      at += Eigen::Index(draw.copies[i]);
    }
    // Why: the raw rows are not needed again (a borrowed sample belongs to the caller).
    std::vector<double>().swap(sample);
    // Canonical row order, so that k-means depends on the set of rows and not on the order a plan
    // delivered them in: serial, parallel and shuffled scans give the same centroids.
    const std::vector<size_t> order = canonical_order(Xa);
    RowMatrix X(Xa.rows(), Xa.cols());
    for (Eigen::Index r = 0; r < rows; ++r) X.row(r) = Xa.row(Eigen::Index(order[size_t(r)]));
    Xa.resize(0, 0);
    out.X = std::move(X);
    if (Xfa.rows()) {
      out.Xf.resize(Xfa.rows(), Xfa.cols());
      for (Eigen::Index r = 0; r < rows; ++r) out.Xf.row(r) = Xfa.row(Eigen::Index(order[size_t(r)]));
    }
  }
  out.model = std::move(m);
  return out;
}

namespace {

// k distinct points are needed for k clusters.
void require_distinct(const RowMatrix& X, int k) {
  std::unordered_set<std::string> distinct;
  for (Eigen::Index r = 0; r < X.rows() && int(distinct.size()) < k; ++r)
    distinct.emplace(reinterpret_cast<const char*>(X.row(r).data()), sizeof(double) * size_t(X.cols()));
  if (int(distinct.size()) < k)
    throw Error(ErrorCode::kDataException,
                "only " + std::to_string(distinct.size()) + (distinct.size() == 1 ? " distinct row" : " distinct rows") +
                    " for k = " + std::to_string(k),
                "lower \"k\" or train on more varied rows");
}

// Silhouette is O(n^2): exact on every row up to kSilhouetteSampleSize, else on a uniform sample
// drawn with the seed. Sets info.silhouette and info.silhouette_rows.
void silhouette_of(const RowMatrix& X, const std::vector<int>& labels, int k, uint64_t seed, InterruptCheck check,
                   TrainInfo& info) {
  const Eigen::Index rows = X.rows();
  if (rows <= kSilhouetteSampleSize) {
    info.silhouette = silhouette_score(X, labels, k, check);
    info.silhouette_rows = double(rows);
    return;
  }
  std::vector<Eigen::Index> idx(static_cast<size_t>(rows));
  std::iota(idx.begin(), idx.end(), 0);
  Rng r(seed ^ 0x517E77E5ULL);
  for (Eigen::Index i = 0; i < kSilhouetteSampleSize; ++i)
    std::swap(idx[size_t(i)], idx[size_t(i + Eigen::Index(r.below(uint64_t(rows - i))))]);
  RowMatrix S(kSilhouetteSampleSize, X.cols());
  std::vector<int> sl(static_cast<size_t>(kSilhouetteSampleSize));
  for (Eigen::Index i = 0; i < kSilhouetteSampleSize; ++i) {
    S.row(i) = X.row(idx[size_t(i)]);
    sl[size_t(i)] = labels[size_t(idx[size_t(i)])];
  }
  info.silhouette = silhouette_score(S, sl, k, check);
  info.silhouette_rows = double(kSilhouetteSampleSize);
}

KMeansOptions kmeans_options(const FitOptions& opt, int k) {
  KMeansOptions ko;
  ko.k = k;
  ko.n_init = opt.n_init;
  ko.max_iter = opt.max_iter;
  ko.tol = opt.tol;
  ko.seed = opt.seed;
  return ko;
}

}  // namespace

Model FitParts::finish(InterruptCheck check, const std::function<void(const std::string&)>& notice) {
  const FitOptions opt = parse_fit_options(options_json);
  auto say = [&](const std::string& s) {
    if (opt.verbose && notice) notice(s);
  };
  Prepared prep = prepare(opt, opt.k > 0, say);
  Model& m = prep.model;
  if (opt.k > 0) {
    const RowMatrix& X = prep.X;
    const Eigen::Index rows = X.rows();
    require_distinct(X, opt.k);
    KMeansOptions ko = kmeans_options(opt, opt.k);
    say("k-means: k = " + std::to_string(opt.k) + " on " + std::to_string(rows) + " rows" +
        (uint64_t(rows) < used ? " (uniform sample)" : ""));
    KMeansResult km = kmeans_fit(X, ko, check, [&](int init, double inertia, int iters) {
      say("k-means restart " + std::to_string(init + 1) + "/" + std::to_string(opt.n_init) + ": inertia " +
          fmt(inertia) + " after " + std::to_string(iters) + " iterations");
    });
    m.k = opt.k;
    m.centroids.assign(km.centers.data(), km.centers.data() + km.centers.size());
    for (int c = 0; c < opt.k; ++c) m.segment_ids.push_back(c);
    m.info.rows_clustered = double(rows);
    m.info.inertia = km.inertia;
    m.info.n_iter = km.n_iter;
    const RowMatrix& M = prep.Xf.rows() ? prep.Xf : X;  // the metrics' space (metric_space)
    silhouette_of(M, km.labels, opt.k, opt.seed, check, m.info);
    m.info.calinski_harabasz = calinski_harabasz_score(M, km.labels, opt.k);
    m.info.davies_bouldin = davies_bouldin_score(M, km.labels, opt.k);
    say("k-means: inertia " + fmt(km.inertia) + ", silhouette " + fmt(m.info.silhouette));
  } else {
    m.info.rows_clustered = 0;
  }
  m.options_json = json::write(options_to_json(opt));
  m.validate();
  return m;
}

// ---- choosing k ----

std::vector<KEvaluation> FitParts::evaluate_k(int k_min, int k_max, InterruptCheck check,
                                              const std::function<void(const std::string&)>& notice) {
  const FitOptions opt = parse_fit_options(options_json);
  if (k_min < 2 || k_max < k_min || k_max > kMaxK)
    throw Error(ErrorCode::kInvalidArgument,
                "k range " + std::to_string(k_min) + ".." + std::to_string(k_max) + " is invalid",
                "pass 2 <= k_min <= k_max <= " + std::to_string(kMaxK));
  auto say = [&](const std::string& s) {
    if (opt.verbose && notice) notice(s);
  };
  Prepared prep = prepare(opt, true, say);
  const RowMatrix& X = prep.X;
  require_distinct(X, k_max);
  // The inertia of one cluster (the total sum of squares) anchors the elbow's chord.
  const double total_ss = (X.rowwise() - X.colwise().mean()).squaredNorm();
  std::vector<KEvaluation> out;
  for (int k = k_min; k <= k_max; ++k) {
    if (check) check();
    KMeansResult km = kmeans_fit(X, kmeans_options(opt, k), check);
    KEvaluation e;
    e.k = k;
    e.inertia = km.inertia;
    e.n_iter = km.n_iter;
    e.rows = double(X.rows());
    TrainInfo info;
    const RowMatrix& M = prep.Xf.rows() ? prep.Xf : X;  // the metrics' space (metric_space)
    silhouette_of(M, km.labels, k, opt.seed, check, info);
    e.silhouette = info.silhouette;
    e.silhouette_rows = info.silhouette_rows;
    e.calinski_harabasz = calinski_harabasz_score(M, km.labels, k);
    e.davies_bouldin = davies_bouldin_score(M, km.labels, k);
    say("k = " + std::to_string(k) + ": inertia " + fmt(e.inertia) + ", silhouette " + fmt(e.silhouette));
    out.push_back(e);
  }
  // Elbow (the Kneedle rule): scale k and inertia over 1..k_max to [0, 1], with k = 1 at the total
  // sum of squares; the elbow is the k farthest below the chord from k = 1 to k = k_max.
  const double lo = out.back().inertia, span = total_ss - lo;
  int elbow = -1;
  double best_gap = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double x = double(out[i].k - 1) / double(k_max - 1);
    const double y = span > 0 ? (out[i].inertia - lo) / span : 0;
    const double gap = (1 - x) - y;
    if (gap > best_gap + 1e-12) best_gap = gap, elbow = int(i);
  }
  if (elbow >= 0) out[size_t(elbow)].is_elbow = true;
  // Chosen: the highest silhouette; among k within kSilhouetteTie of it, the one nearest the elbow
  // (then the smaller k).
  double best = -2;
  for (const auto& e : out)
    if (std::isfinite(e.silhouette)) best = std::max(best, e.silhouette);
  int chosen = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i].silhouette) || out[i].silhouette < best - kSilhouetteTie) continue;
    if (chosen < 0) {
      chosen = int(i);
      continue;
    }
    if (elbow >= 0 && std::abs(int(i) - elbow) < std::abs(chosen - elbow)) chosen = int(i);
  }
  if (chosen < 0) chosen = elbow >= 0 ? elbow : 0;
  out[size_t(chosen)].chosen = true;
  return out;
}

// ---- segment identity across versions ----

namespace {

// Minimum-cost assignment of rows to columns of an n x m cost matrix, n <= m (the Hungarian
// method with potentials, O(n^2 m)). Returns the column of each row.
std::vector<int> assign_min_cost(const Eigen::MatrixXd& cost) {
  const int n = int(cost.rows()), m = int(cost.cols());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(size_t(n) + 1, 0), v(size_t(m) + 1, 0);
  std::vector<int> p(size_t(m) + 1, 0), way(size_t(m) + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(size_t(m) + 1, inf);
    std::vector<char> used(size_t(m) + 1, 0);
    do {
      used[size_t(j0)] = 1;
      const int i0 = p[size_t(j0)];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[size_t(j)]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[size_t(i0)] - v[size_t(j)];
        if (cur < minv[size_t(j)]) minv[size_t(j)] = cur, way[size_t(j)] = j0;
        if (minv[size_t(j)] < delta) delta = minv[size_t(j)], j1 = j;
      }
      for (int j = 0; j <= m; ++j) {
        if (used[size_t(j)]) {
          u[size_t(p[size_t(j)])] += delta;
          v[size_t(j)] -= delta;
        } else {
          minv[size_t(j)] -= delta;
        }
      }
      j0 = j1;
    } while (p[size_t(j0)] != 0);
    do {
      const int j1 = way[size_t(j0)];
      p[size_t(j0)] = p[size_t(j1)];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> col(size_t(n), -1);
  for (int j = 1; j <= m; ++j)
    if (p[size_t(j)] > 0) col[size_t(p[size_t(j)] - 1)] = j - 1;
  return col;
}

// A model's centroids in original units of its encoded columns (one-hot columns as shares).
std::map<std::string, std::vector<double>> centroids_in_original_units(const Model& m) {
  const int D = m.encoded_dim(), P = m.output_dim();
  const std::vector<std::string> names = m.encoded_names();
  std::map<std::string, std::vector<double>> out;
  for (int j = 0; j < D; ++j) out[names[size_t(j)]].assign(size_t(m.k), 0.0);
  for (int c = 0; c < m.k; ++c) {
    const double* z = m.centroids.data() + size_t(c) * size_t(P);
    for (int j = 0; j < D; ++j) {
      double scaled;
      if (m.n_components == 0) {
        scaled = z[j];
      } else {
        scaled = m.pca_mean[size_t(j)];
        for (int q = 0; q < m.n_components; ++q) scaled += z[q] * m.components[size_t(q) * size_t(D) + size_t(j)];
      }
      out[names[size_t(j)]][size_t(c)] = scaled * m.scale[size_t(j)] + m.mean[size_t(j)];
    }
  }
  return out;
}

}  // namespace

SegmentMatch match_segments(const Model& next, const Model& previous, double max_ratio) {
  if (next.k < 1 || previous.k < 1)
    throw Error(ErrorCode::kNotFitted, "both models need a k-means stage to match their segments");
  SegmentMatch r;
  r.previous_of.assign(size_t(next.k), -1);
  r.distance.assign(size_t(next.k), std::numeric_limits<double>::quiet_NaN());
  // Compare in the new model's standardized space, over the encoded columns both models have.
  const auto a = centroids_in_original_units(next);
  const auto b = centroids_in_original_units(previous);
  const std::vector<std::string> names = next.encoded_names();
  std::vector<int> cols;
  for (int j = 0; j < int(names.size()); ++j)
    if (b.count(names[size_t(j)])) cols.push_back(j);
  if (cols.empty()) return r;
  auto dist = [&](const std::map<std::string, std::vector<double>>& x, int i,
                  const std::map<std::string, std::vector<double>>& y, int l) {
    double s = 0;
    for (int j : cols) {
      const std::string& name = names[size_t(j)];
      const double d = (x.at(name)[size_t(i)] - y.at(name)[size_t(l)]) / next.scale[size_t(j)];
      s += d * d;
    }
    return std::sqrt(s);
  };
  Eigen::MatrixXd cost(next.k, previous.k);
  for (int i = 0; i < next.k; ++i)
    for (int l = 0; l < previous.k; ++l) cost(i, l) = dist(a, i, b, l);
  std::vector<int> col;
  if (next.k <= previous.k) {
    col = assign_min_cost(cost);
  } else {
    std::vector<int> row_of = assign_min_cost(cost.transpose());
    col.assign(size_t(next.k), -1);
    for (int l = 0; l < previous.k; ++l) col[size_t(row_of[size_t(l)])] = l;
  }
  // A match is good when the centroids are closer than max_ratio times the distance from the
  // previous centroid to its nearest neighbour among the previous centroids.
  for (int i = 0; i < next.k; ++i) {
    const int l = col[size_t(i)];
    if (l < 0) continue;
    double nearest = std::numeric_limits<double>::infinity();
    for (int o = 0; o < previous.k; ++o)
      if (o != l) nearest = std::min(nearest, dist(b, l, b, o));
    r.distance[size_t(i)] = cost(i, l);
    if (cost(i, l) <= max_ratio * nearest) r.previous_of[size_t(i)] = l;
  }
  return r;
}

// ---- FitAccumulator ----

FitAccumulator::FitAccumulator(std::vector<std::string> names, int n_numeric, std::string options_json)
    : buf_(encode_state(FitParts(std::move(names), n_numeric, std::move(options_json)))) {}

void FitAccumulator::add_row(const double* numeric, const StrRef* categorical) {
  FitStateView view(buf_.data(), buf_.size());
  if (view.add_row(numeric, categorical)) return;
  if (const size_t grown = view.grown_length(categorical)) {
    std::vector<uint8_t> next(grown);
    view.grow_into(next.data(), grown);
    buf_ = std::move(next);
  } else {
    FitParts p = decode_state(buf_.data(), buf_.size());
    p.prepare(categorical);
    buf_ = encode_state(p);
  }
  if (!FitStateView(buf_.data(), buf_.size()).add_row(numeric, categorical))
    throw Error(ErrorCode::kInternal, "custseg_fit state did not accept a prepared row");
}

void FitAccumulator::add_skipped() { FitStateView(buf_.data(), buf_.size()).add_skipped(); }

void FitAccumulator::merge(const FitAccumulator& other) {
  FitParts a = decode_state(buf_.data(), buf_.size());
  FitParts b = decode_state(other.buf_.data(), other.buf_.size());
  a.merge(b);
  buf_ = encode_state(a);
}

Model FitAccumulator::finish(InterruptCheck check) const {
  return decode_state(buf_.data(), buf_.size()).finish(check);
}

}  // namespace custseg::core
