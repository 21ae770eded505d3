// The flat training state of the custseg_fit aggregate (see fit.h): its layout, the per-row fast
// path that updates it in place (FitStateView), its decoded form (FitParts) with the structural
// changes and the merge of two partial states, and encoding and decoding between the two.
//
// State layout (offsets from the buffer start; the first 8 bytes belong to the glue's varlena
// header): StateHeader, feature-name offsets and bytes, options text, category columns, offsets and
// bytes (room for level_cap categories and level_bytes_cap bytes of their text), the hash index
// (uint32 per slot: category id + 1, 0 = empty; sized for level_cap), moments N, A, M (dim x dim
// used of dim_cap x dim_cap, column-major with leading dimension dim_cap = n_numeric + level_cap),
// pending rows (pending_cap x width) and the sample (sample_cap entries of 2 + width doubles: hash,
// count, row).
//
// Why room for categories: a new category is then added in place, in O(dim) (its moment column is
// that of a column zero in every row so far), and the state is rebuilt only when the room runs out,
// which doubles it: a column of L levels costs log2(L) rebuilds, not L. Why pending_cap grows with
// dim: folding a block of pending rows into the moments touches all dim_cap^2 pairs once, so a
// block of about dim^2 / 16 rows keeps that merge at a few pairs per row.
#include "state_internal.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "rng.h"

namespace custseg::core {

namespace {

constexpr uint32_t kStateMagic = 0x53475343;  // "CSGS"
constexpr uint32_t kStateVersion = 3;
constexpr size_t kReserved = 8;

struct StateHeader {
  uint32_t magic, version;
  uint32_t n_features, n_numeric;
  uint32_t n_levels, dim;
  uint32_t hash_size, pending_count;
  uint32_t flags, pending_cap;  // flags: kFlagVerbose | kFlagDedupe
  uint32_t level_cap, pad;
  uint64_t level_bytes_cap;
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

uint32_t hash_size_for(size_t levels) {
  uint32_t s = 16;
  while (s < 2 * (levels + 1)) s <<= 1;
  return s;
}

// Pending rows per block: about dim_cap^2 / 16 (the fold's merge touches every pair once per block),
// at least kPendingRows, and at most 2 MB of rows.
constexpr size_t kMaxPendingBytes = size_t(1) << 21;
uint32_t pending_cap_for(size_t dim_cap, size_t width) {
  const size_t want = dim_cap * dim_cap / 16;
  const size_t by_bytes = kMaxPendingBytes / (8 * std::max<size_t>(width, 1));
  return uint32_t(std::max<size_t>(FitParts::kPendingRows, std::min(want, by_bytes)));
}

// Category room after a rebuild that needs `levels`: doubled, within the encoded-column limit.
uint32_t grown_level_cap(int n_numeric, size_t levels) {
  const size_t limit = size_t(std::max(0, kMaxFeatures - n_numeric));
  return uint32_t(std::max(levels, std::min(limit, std::max<size_t>(16, 2 * levels))));
}

// The offsets of every section from the counts and room in `h` (names, options, level_cap,
// level_bytes_cap, hash_size, pending_cap, sample_cap); returns the total length.
size_t lay_out(StateHeader& h) {
  const size_t w = h.n_features, ew = w + kExtra, lc = h.level_cap, dc = size_t(h.n_numeric) + lc;
  size_t off = kReserved + align8(sizeof(StateHeader));
  auto take = [&off](size_t bytes) {
    uint64_t o = off;
    off += align8(bytes);
    return o;
  };
  h.off_name_off = take(4 * (w + 1));
  h.off_name_bytes = take(h.name_bytes_len);
  h.off_options = take(h.options_len);
  h.off_level_col = take(4 * lc);
  h.off_level_off = take(4 * (lc + 1));
  h.off_level_bytes = take(h.level_bytes_cap);
  h.off_level_hash = take(8 * lc);
  h.off_hash = take(4 * size_t(h.hash_size));
  h.off_N = take(8 * dc * dc);
  h.off_A = take(8 * dc * dc);
  h.off_M = take(8 * dc * dc);
  h.off_pending = take(8 * w * size_t(h.pending_cap));
  h.off_sample = take(8 * ew * size_t(h.sample_cap));
  h.total_len = off;
  return off;
}

// When the sample's room should grow: it is full, or a compaction left it more than 3/4 full
// (add_row compacts a full room first once it holds sample_size entries).
bool wants_room(uint64_t count, uint64_t cap, int64_t sample_size) {
  return cap < sample_room(sample_size) && (count == cap || 4 * count > 3 * cap);
}

uint64_t grown_cap(int64_t sample_size, uint64_t cap) {
  return std::min<uint64_t>(sample_room(sample_size), std::max<uint64_t>(1024, 4 * cap));
}

// The most sample rows of this many feature columns: an entry is 8 bytes per feature column plus
// 16, and the room, 1.5 times the sample, is bounded in bytes.
int64_t max_sample_rows(size_t n_features) {
  const int64_t entry_bytes = 8 * (int64_t(std::max<size_t>(n_features, 1)) + kExtra);
  return kMaxReservoirBytes * 2 / (3 * entry_bytes);
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
      h.level_cap < h.n_levels || h.level_cap > uint32_t(kMaxFeatures) - h.n_numeric ||
      h.level_bytes_len > h.level_bytes_cap || h.pending_count > h.pending_cap ||
      h.pending_cap < uint32_t(FitParts::kPendingRows) || h.pending_cap > kMaxPendingBytes / 8 ||
      h.hash_size < hash_size_for(h.level_cap) || h.hash_size > (uint32_t(1) << 16) ||
      (h.hash_size & (h.hash_size - 1)) || h.flags > 3 || h.sample_size < 0 ||
      h.sample_cap > sample_room(h.sample_size))
    bad_state("bad header");
  // The sample size as FitParts bounds it (the final draw and its matrices hold at most this many
  // rows, whatever the counts say).
  if (h.sample_size > max_sample_rows(h.n_features)) bad_state("sample size too large");
  return h;
}

// Every section inside the buffer and past the header. Why the lower bound: rows are written in
// place at these offsets, so a section over the header (a crafted INITCOND) would let row values
// rewrite the offsets themselves. Checked on every row too (the glue may not decode first).
void check_sections(const StateHeader& h, size_t len) {
  const uint64_t w = h.n_features, lc = h.level_cap, dc = h.n_numeric + lc, ew = w + kExtra;
  auto check = [&](uint64_t off, uint64_t bytes) {
    if (off % 8 != 0 || off < kReserved + sizeof(StateHeader) || off > len || bytes > len - off)
      bad_state("section out of bounds");
  };
  check(h.off_name_off, 4 * (w + 1));
  check(h.off_name_bytes, h.name_bytes_len);
  check(h.off_options, h.options_len);
  check(h.off_level_col, 4 * lc);
  check(h.off_level_off, 4 * (lc + 1));
  check(h.off_level_bytes, h.level_bytes_cap);
  check(h.off_level_hash, 8 * lc);
  check(h.off_hash, 4 * uint64_t(h.hash_size));
  check(h.off_N, 8 * dc * dc);
  check(h.off_A, 8 * dc * dc);
  check(h.off_M, 8 * dc * dc);
  check(h.off_pending, 8 * w * uint64_t(h.pending_cap));
  check(h.off_sample, 8 * ew * h.sample_cap);
}

}  // namespace

FitParts::FitParts(std::vector<std::string> names_in, int n_numeric_in, std::string options_in)
    : names(std::move(names_in)), n_numeric(n_numeric_in), options_json(std::move(options_in)),
      moments(n_numeric_in) {
  FitOptions o = parse_fit_options(options_json);
  // Only k-means needs rows; dedupe needs every distinct row. Rows are bounded in bytes: an entry
  // is 8 bytes per feature column plus 16, and the room is 1.5 times the sample.
  const int64_t max_rows = max_sample_rows(names.size());
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
  if (!dedupe) threshold = o.sample_threshold;
  if (n_categorical() > 0) {
    level_cap = uint32_t(std::min(16, std::max(0, kMaxFeatures - n_numeric)));
    level_bytes_cap = 256;
  }
}

namespace {

// The header of the compact form of a state: no room beyond what it holds (no spare categories or
// text, kPendingRows pending rows, and the sample's entries only). Pending rows beyond kPendingRows
// are folded into the moments on the way (*fold).
StateHeader compact_header(const StateHeader& h, bool* fold) {
  StateHeader c = h;
  *fold = h.pending_count > uint32_t(FitParts::kPendingRows);
  c.level_cap = h.n_levels;
  c.level_bytes_cap = h.level_bytes_len;
  c.hash_size = hash_size_for(h.n_levels);
  c.pending_cap = FitParts::kPendingRows;
  if (*fold) c.pending_count = 0;
  c.sample_cap = h.sample_count;
  lay_out(c);
  return c;
}

}  // namespace

size_t compact_state_length(const uint8_t* b, size_t len) {
  StateHeader h = read_header(b, len);
  check_sections(h, len);
  bool fold;
  return size_t(compact_header(h, &fold).total_len);
}

// Section by section (plain copies: `out` needs no alignment); the hash index is rebuilt for the
// new size, the moments copied to the new leading dimension.
void compact_state_into(const uint8_t* b, size_t len, uint8_t* out, size_t out_len) {
  StateHeader h = read_header(b, len);
  check_sections(h, len);
  bool fold;
  StateHeader c = compact_header(h, &fold);
  if (out_len != c.total_len) throw Error(ErrorCode::kInternal, "custseg: compact state length mismatch");
  std::memset(out, 0, out_len);
  const size_t w = h.n_features, ew = w + kExtra, nl = h.n_levels, d = h.dim;
  auto copy = [&](uint64_t to, uint64_t from, size_t bytes) {
    if (bytes) std::memcpy(out + to, b + from, bytes);
  };
  copy(c.off_name_off, h.off_name_off, 4 * (w + 1));
  copy(c.off_name_bytes, h.off_name_bytes, h.name_bytes_len);
  copy(c.off_options, h.off_options, h.options_len);
  copy(c.off_level_col, h.off_level_col, 4 * nl);
  copy(c.off_level_off, h.off_level_off, 4 * (nl + 1));
  copy(c.off_level_bytes, h.off_level_bytes, h.level_bytes_len);
  copy(c.off_level_hash, h.off_level_hash, 8 * nl);
  const uint32_t* lcol = reinterpret_cast<const uint32_t*>(b + h.off_level_col);
  const uint32_t* loff = reinterpret_cast<const uint32_t*>(b + h.off_level_off);
  const char* bytes = reinterpret_cast<const char*>(b + h.off_level_bytes);
  std::vector<uint32_t> index(c.hash_size, 0);
  for (size_t i = 0; i < nl; ++i) {
    if (loff[i] > loff[i + 1] || loff[i + 1] > h.level_bytes_len) bad_state("bad category table");
    uint32_t slot = uint32_t(hash_level(int(lcol[i]), bytes + loff[i], loff[i + 1] - loff[i])) & (c.hash_size - 1);
    while (index[slot] != 0) slot = (slot + 1) & (c.hash_size - 1);
    index[slot] = uint32_t(i + 1);
  }
  std::memcpy(out + c.off_hash, index.data(), 4 * index.size());
  const size_t ld = size_t(h.n_numeric) + h.level_cap;
  Moments m = Moments::from_raw(h.moments_n, reinterpret_cast<const double*>(b + h.off_N),
                                reinterpret_cast<const double*>(b + h.off_A),
                                reinterpret_cast<const double*>(b + h.off_M), int(d), int(ld));
  if (fold)
    m.add_raw(reinterpret_cast<const double*>(b + h.off_pending), h.pending_count, w, int(w), int(h.n_numeric));
  else
    copy(c.off_pending, h.off_pending, 8 * w * h.pending_count);
  c.moments_n = m.count();
  if (d > 0) {
    std::memcpy(out + c.off_N, m.N().data(), 8 * d * d);
    std::memcpy(out + c.off_A, m.A().data(), 8 * d * d);
    std::memcpy(out + c.off_M, m.M().data(), 8 * d * d);
  }
  copy(c.off_sample, h.off_sample, 8 * ew * h.sample_count);
  std::memcpy(out + kReserved, &c, sizeof c);
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

void state_widths(const uint8_t* b, size_t len, int& n_features, int& n_numeric) {
  const StateHeader h = read_header(b, len);
  n_features = int(h.n_features);
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
  // Room for categories as the parts ask (FitParts::prepare doubles it), within the column limit.
  h.level_cap = std::max<uint32_t>(uint32_t(nl), std::min<uint32_t>(p.level_cap, uint32_t(kMaxFeatures - p.n_numeric)));
  const size_t dim_cap = size_t(p.n_numeric) + h.level_cap;
  h.hash_size = hash_size_for(h.level_cap);
  h.pending_count = uint32_t(p.pending.size() / w);
  h.pending_cap = std::max(pending_cap_for(dim_cap, w), h.pending_count);
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
  h.name_bytes_len = name_bytes;
  h.options_len = p.options_json.size();
  h.level_bytes_len = level_bytes;
  h.level_bytes_cap = std::max<uint64_t>(level_bytes, p.level_bytes_cap);
  const size_t off = lay_out(h);
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
    lhash[i] = category_hash_inline(p.hash_seed, p.level_col[i], p.levels[i].data(), p.levels[i].size());
    uint32_t slot = uint32_t(hash_level(p.level_col[i], p.levels[i].data(), p.levels[i].size())) & (h.hash_size - 1);
    while (hash[slot] != 0) slot = (slot + 1) & (h.hash_size - 1);
    hash[slot] = uint32_t(i + 1);
  }
  loff[nl] = pos;
  for (size_t j = 0; j < dim; ++j) {  // column j at leading dimension dim_cap
    std::memcpy(b + h.off_N + 8 * j * dim_cap, p.moments.N().data() + j * dim, 8 * dim);
    std::memcpy(b + h.off_A + 8 * j * dim_cap, p.moments.A().data() + j * dim, 8 * dim);
    std::memcpy(b + h.off_M + 8 * j * dim_cap, p.moments.M().data() + j * dim, 8 * dim);
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
    p.level_hash.push_back(category_hash_inline(p.hash_seed, p.level_col[i], p.levels[i].data(), p.levels[i].size()));
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
                                reinterpret_cast<const double*>(b + h.off_M), int(dim), int(h.n_numeric + h.level_cap));
  p.level_cap = h.level_cap;
  p.level_bytes_cap = h.level_bytes_cap;
  // A category id is -1 or a whole number below nl (within int range, so the cast is exact).
  const auto good_id = [nl](double id) { return id == -1 || (id >= 0 && id < double(nl) && double(int(id)) == id); };
  const double* pend = reinterpret_cast<const double*>(b + h.off_pending);
  for (uint64_t r = 0; r < h.pending_count; ++r)
    for (size_t col = h.n_numeric; col < w; ++col)
      if (!good_id(pend[r * w + col])) bad_state("bad category id");
  p.pending.assign(pend, pend + w * h.pending_count);
  const double* res = reinterpret_cast<const double*>(b + h.off_sample);
  // Counts never exceed the rows they count (which also bounds the final draw's work).
  uint64_t counted = 0;
  for (uint64_t r = 0; r < h.sample_count; ++r) {
    const double* e = res + r * ew;
    const uint64_t c = entry_word(e, 1);
    if (c == 0 || c > h.seen - counted) bad_state("bad sample count");  // counted <= seen: no wrap
    counted += c;
    for (size_t col = h.n_numeric; col < w; ++col)
      if (!good_id(e[kExtra + col])) bad_state("bad category id");
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
    if (id >= h->n_levels || loff[id] > loff[id + 1] || loff[id + 1] > h->level_bytes_len)
      bad_state("bad category index");
    if (lcol[id] == uint32_t(cat) && loff[id + 1] - loff[id] == v.len &&
        (v.len == 0 || std::memcmp(bytes + loff[id], v.data, v.len) == 0))
      return int(id);
    slot = (slot + 1) & (h->hash_size - 1);
  }
  return -1;
}

// A new category in the state's room: its text, hash and index entry, and its moment column, that
// of a column present and zero in every row folded so far (Moments::extend): N(i, j) = N(i, i),
// A(i, j) = A(i, i), A(j, i) = 0, M = 0; N(j, j) = n. Pending rows do not have it, and are folded
// with it as zero. False, changing nothing, when the room is full (the state is rebuilt larger).
int FitStateView::add_level(int cat, const StrRef& v) {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  const uint32_t id = h->n_levels;
  if (id >= h->level_cap || v.len > h->level_bytes_cap - h->level_bytes_len) return -1;
  uint32_t* lcol = reinterpret_cast<uint32_t*>(base_ + h->off_level_col);
  uint32_t* loff = reinterpret_cast<uint32_t*>(base_ + h->off_level_off);
  if (loff[id] != h->level_bytes_len) bad_state("bad category table");
  int in_column = 0;
  for (uint32_t i = 0; i < id; ++i) in_column += lcol[i] == uint32_t(cat);
  if (in_column >= kMaxLevelsPerColumn) return -1;  // the rebuild reports it
  char* bytes = reinterpret_cast<char*>(base_ + h->off_level_bytes);
  if (v.len) std::memcpy(bytes + loff[id], v.data, v.len);
  lcol[id] = uint32_t(cat);
  loff[id + 1] = loff[id] + uint32_t(v.len);
  reinterpret_cast<uint64_t*>(base_ + h->off_level_hash)[id] = category_hash_inline(h->hash_seed, cat, v.data, v.len);
  uint32_t* hash = reinterpret_cast<uint32_t*>(base_ + h->off_hash);
  uint32_t slot = uint32_t(hash_level(cat, v.data, v.len)) & (h->hash_size - 1);
  while (hash[slot] != 0) slot = (slot + 1) & (h->hash_size - 1);
  hash[slot] = id + 1;
  const size_t ld = size_t(h->n_numeric) + h->level_cap, j = h->dim;
  double* N = reinterpret_cast<double*>(base_ + h->off_N);
  double* A = reinterpret_cast<double*>(base_ + h->off_A);
  double* M = reinterpret_cast<double*>(base_ + h->off_M);
  for (size_t i = 0; i < j; ++i) {
    N[i + j * ld] = N[j + i * ld] = N[i + i * ld];
    A[i + j * ld] = A[i + i * ld];
    A[j + i * ld] = 0;
    M[i + j * ld] = M[j + i * ld] = 0;
  }
  N[j + j * ld] = h->moments_n;
  A[j + j * ld] = M[j + j * ld] = 0;
  h->level_bytes_len += v.len;
  ++h->n_levels;
  ++h->dim;
  return int(id);
}

void FitStateView::fold_pending() {
  StateHeader* h = reinterpret_cast<StateHeader*>(base_ + kReserved);
  const int dim = int(h->dim), ld = int(h->n_numeric + h->level_cap);
  const double* pend = reinterpret_cast<const double*>(base_ + h->off_pending);
  double* N = reinterpret_cast<double*>(base_ + h->off_N);
  double* A = reinterpret_cast<double*>(base_ + h->off_A);
  double* M = reinterpret_cast<double*>(base_ + h->off_M);
  // In place: the block's merge touches each of the 3 dim^2 moments once, copies none.
  Moments::add_raw_into(&h->moments_n, N, A, M, dim, ld, pend, h->pending_count, h->n_features, int(h->n_features),
                        int(h->n_numeric));
  h->pending_count = 0;
}

void FitStateView::compact_sample() {
  const StateHeader* h = reinterpret_cast<const StateHeader*>(base_ + kReserved);
  if ((h->flags & kFlagDedupe) || h->sample_size <= 0 || h->sample_count <= uint64_t(h->sample_size)) return;
  compact();
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
  // The pending rows' unused room is zero, as encode_state leaves it. The sample's new room is left
  // as allocated: nothing reads entries past sample_count (decoding, compaction and the compact
  // form stop there), and zeroing it wrote three quarters of the new buffer at once (63 MB when a
  // training that keeps every row of a million grows its room from 262,144 entries to 1,048,576).
  const size_t pending_used = size_t(h->off_pending) + 8 * w * h->pending_count;
  std::memset(out + pending_used, 0, 8 * w * (size_t(h->pending_cap) - h->pending_count));
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

bool FitStateView::add_row(const double* numeric, const StrRef* categorical, LevelMemo* memo) {
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
    LevelMemo::Column* mc = memo && c < LevelMemo::kColumns && !memo->column[c].off ? &memo->column[c] : nullptr;
    TextKey key;
    if (mc && !text_key(categorical[c].data, categorical[c].len, key)) mc = nullptr;
    int id = mc ? mc->find(key) : -1;
    if (id < 0) {
      id = find_level(c, categorical[c]);
      if (id < 0) id = add_level(c, categorical[c]);
      if (id < 0) return false;
      if (mc) mc->remember(key, id);
    }
    ids[c] = id;
    chash[c] = lhash[id];
  }
  const bool dedupe = h->flags & kFlagDedupe;
  bool candidate = false;
  uint64_t rh = 0;
  if (h->sample_size > 0) {
    rh = row_hash_inline(h->hash_seed, numeric, nn, chash, w - nn);
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
  // A state may arrive with its pending block full (a compact form holds up to kPendingRows
  // pending rows in room for as many, and is given back as an INITCOND): folded before this row
  // is written past it.
  if (h->pending_count >= h->pending_cap) fold_pending();
  double* pend = reinterpret_cast<double*>(base_ + h->off_pending) + size_t(h->pending_count) * size_t(w);
  std::memcpy(pend, numeric, sizeof(double) * size_t(nn));
  std::memcpy(pend + nn, ids, sizeof(double) * size_t(w - nn));
  ++h->pending_count;
  if (h->pending_count >= h->pending_cap) fold_pending();
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
    level_hash.push_back(category_hash_inline(hash_seed, c, v.data, v.len));
    moments.extend(1);
  }
  // The state is being rebuilt: room for twice the categories and their text, so that the next
  // ones are added in place.
  const bool more_levels = levels.size() > level_cap;
  if (more_levels) level_cap = grown_level_cap(n_numeric, levels.size());
  size_t text = 0;
  for (const auto& l : levels) text += l.size();
  if (more_levels || text > level_bytes_cap)  // text room for the category room at the mean length
    level_bytes_cap = std::max<uint64_t>({level_bytes_cap, 256, 2 * text,
                                          levels.empty() ? 0 : text * level_cap / levels.size()});
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
  // Compacted only when the union outgrows the sample room (or counts distinct rows): the final
  // draw takes the bottom sample_size of whatever is kept, so merging many partial states (Citus
  // shards, each with its share of the sample) sorts the sample about once instead of once each.
  if (dedupe || sample_entries() > sample_room(sample_size)) compact();
  sample_cap = sample_entries();
  seen += o.seen;
  skipped += o.skipped;
}

// ---- FitAccumulator ----

FitAccumulator::FitAccumulator(std::vector<std::string> names, int n_numeric, std::string options_json)
    : buf_(encode_state(FitParts(std::move(names), n_numeric, std::move(options_json)))) {
  memo_.clear();
}

void FitAccumulator::add_row(const double* numeric, const StrRef* categorical) {
  FitStateView view(buf_.data(), buf_.size());
  if (view.add_row(numeric, categorical, &memo_)) return;
  memo_.clear();  // the buffer is replaced
  if (const size_t grown = view.grown_length(categorical)) {
    std::vector<uint8_t> next(grown);
    view.grow_into(next.data(), grown);
    buf_ = std::move(next);
  } else {
    FitParts p = decode_state(buf_.data(), buf_.size());
    p.prepare(categorical);
    buf_ = encode_state(p);
  }
  if (!FitStateView(buf_.data(), buf_.size()).add_row(numeric, categorical, &memo_))
    throw Error(ErrorCode::kInternal, "custseg_fit state did not accept a prepared row");
}

void FitAccumulator::add_skipped() { FitStateView(buf_.data(), buf_.size()).add_skipped(); }

void FitAccumulator::merge(const FitAccumulator& other) {
  FitParts a = decode_state(buf_.data(), buf_.size());
  FitParts b = decode_state(other.buf_.data(), other.buf_.size());
  a.merge(b);
  buf_ = encode_state(a);
  memo_.clear();
}

Model FitAccumulator::finish(InterruptCheck check) const {
  return decode_state(buf_.data(), buf_.size()).finish(check);
}

}  // namespace custseg::core
