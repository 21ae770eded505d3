// The bottom-k sample of a custseg_fit state (see fit.h): the content hashes that order rows,
// the compaction that merges repeated rows and keeps the sample_size smallest, the draw of the rows
// k-means runs on, and the canonical order of those rows.
#include "state_internal.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <unordered_set>

#include "rng.h"

namespace custseg::core {

namespace {

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

// Sorts (hash, entry) pairs by hash, then entry. The hashes are seeded content hashes, uniform
// over [0, largest]: one counting pass distributes the pairs by their leading bits into about n / 4
// buckets (entries arrive in increasing order and the pass is stable, so ties stay ordered by
// entry), then each bucket, a few pairs on average, is sorted by insertion. A bucket of more than
// 32 pairs (repeated rows share a hash) is sorted whole. Two passes over the pairs instead of a
// radix sort's eight.
void sort_by_hash(std::vector<std::pair<uint64_t, uint64_t>>& keys) {
  const size_t n = keys.size();
  if (n < 2) return;
  if (n < 512 || n > UINT32_MAX) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  uint64_t largest = 0;
  for (const auto& k : keys) largest = std::max(largest, k.first);
  int bits = 1;
  while ((size_t(1) << bits) < n / 4) ++bits;
  const int width = 64 - __builtin_clzll(largest | 1);
  const int shift = std::max(0, width - bits);
  const size_t buckets = size_t(largest >> shift) + 1;
  std::vector<uint32_t> start(buckets + 1, 0);
  for (const auto& k : keys) ++start[size_t(k.first >> shift) + 1];
  for (size_t b = 1; b <= buckets; ++b) start[b] += start[b - 1];
  std::vector<std::pair<uint64_t, uint64_t>> out(n);
  std::vector<uint32_t> next(start.begin(), start.end() - 1);
  for (const auto& k : keys) out[next[size_t(k.first >> shift)]++] = k;
  for (size_t b = 0; b < buckets; ++b) {
    auto* lo = out.data() + start[b];
    auto* hi = out.data() + start[b + 1];
    if (hi - lo > 32) {
      std::sort(lo, hi);
      continue;
    }
    for (auto* at = lo + 1; at < hi; ++at) {
      const auto v = *at;
      auto* q = at;
      for (; q > lo && v < q[-1]; --q) *q = q[-1];
      *q = v;
    }
  }
  keys.swap(out);
}

}  // namespace

// The distinct contents among the entries at or under `threshold`, in canonical order, at most
// `limit` of them (the smallest); *cut receives the hash of the last one kept when some were cut.
Distinct distinct_entries(const double* data, uint64_t n, int w, int nn, const LevelText& lt, uint64_t threshold,
                          uint64_t limit, bool* cut, uint64_t* cut_hash) {
  const size_t ew = size_t(w + kExtra);
  std::vector<std::pair<uint64_t, uint64_t>> keys;  // (hash, entry): sorted by hash in one cache-friendly pass
  keys.reserve(size_t(n));
  // Each entry's count, read in the same pass: read in hash order from the entries, it was a cache
  // miss per entry (most of this function's time).
  std::unique_ptr<uint64_t[]> counts(new uint64_t[size_t(n)]);  // every one written below
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t h = entry_word(data + i * ew, 0);
    counts[size_t(i)] = entry_word(data + i * ew, 1);
    if (h <= threshold) keys.emplace_back(h, i);
  }
  sort_by_hash(keys);
  Distinct d;
  d.first.reserve(size_t(std::min<uint64_t>(limit, keys.size())));
  d.count.reserve(d.first.capacity());
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
      const uint64_t e = keys[r].second;
      if (r > i && compare_entries(data + d.first.back() * ew, data + e * ew, w, nn, lt) == 0) {
        d.count.back() += counts[size_t(e)];
        continue;
      }
      if (d.first.size() == limit) {
        *cut = true;
        *cut_hash = entry_word(data + d.first.back() * ew, 0);
        return d;
      }
      d.first.push_back(e);
      d.count.push_back(counts[size_t(e)]);
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
  // Each kept entry's count (0: dropped), written in the one pass that moves the kept entries up,
  // in their order, rather than in hash order (a scattered write per entry; about 5% of the
  // compaction's time).
  std::vector<uint64_t> kept(static_cast<size_t>(n), 0);
  for (size_t i = 0; i < d.first.size(); ++i) kept[size_t(d.first[i])] = d.count[i];
  uint64_t out = 0;
  for (uint64_t r = 0; r < n; ++r) {
    if (!kept[size_t(r)]) continue;
    if (r != out) std::memcpy(data + out * ew, data + r * ew, sizeof(double) * ew);
    set_entry_word(data + out * ew, 1, kept[size_t(r)]);
    ++out;
  }
  return out;
}


uint64_t category_hash(uint64_t seed, int column, const char* data, size_t len) {
  return category_hash_inline(seed, column, data, len);
}

uint64_t row_hash(uint64_t seed, const double* numeric, int n_numeric, const uint64_t* cat_hash, int n_categorical) {
  return row_hash_inline(seed, numeric, n_numeric, cat_hash, n_categorical);
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
  out.kept = total;
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

// Sorting: the rows are distributed by their first column's value among about n / 4 buckets of
// equal width between its least and greatest value (a monotone map, so a bucket's rows all precede
// the next bucket's), then each bucket, a few rows on average, is sorted by insertion (more than 32
// rows: sorted whole) on the first column, then the others, then the index: one total order,
// whatever the buckets.
namespace {

// The order of canonical_order for n rows of p columns, row i's first column first(i), rows with
// equal first columns ordered by tail_less (the other columns, then the index).
template <class First, class TailLess>
std::vector<size_t> canonical_order_of(size_t n, Eigen::Index p, const First& first, const TailLess& tail_less) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  if (n < 2 || p == 0) return order;
  // Order-preserving unsigned keys of the first column (-0 and +0 are equal, as under <).
  std::vector<uint64_t> key(n);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    double v = first(i) + 0.0;
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    key[i] = (b >> 63) ? ~b : (b | (uint64_t(1) << 63));
    finite = finite && std::isfinite(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const auto less = [&](size_t a, size_t b) {
    if (key[a] != key[b]) return key[a] < key[b];
    return tail_less(a, b);
  };
  const double span = hi - lo;
  if (n < 64 || !finite || !(span > 0) || !std::isfinite(span)) {
    std::sort(order.begin(), order.end(), less);
    return order;
  }
  const size_t buckets = std::max<size_t>(1, n / 4);
  const double per = double(buckets - 1) / span;
  std::vector<uint32_t> bucket(n);
  std::vector<size_t> start(buckets + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const double v = first(i) + 0.0;
    bucket[i] = uint32_t(std::min(double(buckets - 1), (v - lo) * per));
    ++start[size_t(bucket[i]) + 1];
  }
  for (size_t b = 1; b <= buckets; ++b) start[b] += start[b - 1];
  std::vector<size_t> next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < n; ++i) order[next[bucket[i]]++] = i;
  for (size_t b = 0; b < buckets; ++b) {
    size_t* lo_at = order.data() + start[b];
    size_t* hi_at = order.data() + start[b + 1];
    if (hi_at - lo_at > 32) {
      std::sort(lo_at, hi_at, less);
      continue;
    }
    for (size_t* at = lo_at + 1; at < hi_at; ++at) {
      const size_t v = *at;
      size_t* q = at;
      for (; q > lo_at && less(v, q[-1]); --q) *q = q[-1];
      *q = v;
    }
  }
  return order;
}

}  // namespace

std::vector<size_t> canonical_order(const RowMatrix& X) {
  const Eigen::Index p = X.cols();
  return canonical_order_of(
      size_t(X.rows()), p, [&](size_t i) { return X(Eigen::Index(i), 0); },
      [&](size_t a, size_t b) {
        const double* ra = X.row(Eigen::Index(a)).data();
        const double* rb = X.row(Eigen::Index(b)).data();
        for (Eigen::Index j = 1; j < p; ++j)
          if (ra[j] != rb[j]) return ra[j] < rb[j];
        return a < b;
      });
}

std::vector<size_t> canonical_order(const SparseRows& S) {
  // Column 0 is the first dense column or the first entry of a row's list.
  const bool dense0 = !S.dense.empty() && S.dense[0] == 0;
  return canonical_order_of(
      size_t(S.n), S.p,
      [&](size_t i) {
        if (dense0) return S.D(Eigen::Index(i), 0);
        const Eigen::Index q = S.ptr[i];
        return q < S.ptr[i + 1] && S.col[size_t(q)] == 0 ? S.val[size_t(q)] : 0.0;
      },
      [&](size_t a, size_t b) {
        const int c = compare_rows(S, Eigen::Index(a), Eigen::Index(b));
        return c != 0 ? c < 0 : a < b;
      });
}

}  // namespace custseg::core
