#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>

#include "errors.h"
#include "fit.h"
#include "model.h"

namespace custseg::core {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Row {
  double age, income;
  const char* region;  // nullptr is NULL
};

std::vector<Row> customers(int n, uint64_t seed) {
  static const char* regions[] = {"north", "south", "east", "west"};
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> z(0, 1);
  std::uniform_int_distribution<int> r(0, 4);
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) {
    const int g = i % 3;  // three groups
    const int ri = r(gen);
    rows.push_back({25 + 15 * g + 3 * z(gen), 30000 + 25000 * g + 4000 * z(gen), ri == 4 ? nullptr : regions[ri]});
    if (i % 17 == 0) rows.back().age = kNaN;  // some numeric NULLs
  }
  return rows;
}

void add(FitAccumulator& acc, const Row& row) {
  double num[2] = {row.age, row.income};
  StrRef cat;
  if (row.region) cat = StrRef{row.region, std::strlen(row.region), false};
  acc.add_row(num, &cat);
}

FitAccumulator accumulate(const std::vector<Row>& rows, size_t from, size_t to, const std::string& opts) {
  FitAccumulator acc({"age", "income", "region"}, 2, opts);
  for (size_t i = from; i < to; ++i) add(acc, rows[i]);
  return acc;
}

TEST(Fit, ScalerMatchesDirectStatistics) {
  auto rows = customers(600, 1);
  Model m = accumulate(rows, 0, rows.size(), R"({"k": 3, "seed": 1})").finish();
  ASSERT_EQ(m.features.size(), 3u);
  EXPECT_EQ(m.features[2].levels, (std::vector<std::string>{"east", "north", "south", "west"}));
  // Mean imputation, population scale.
  double s = 0, c = 0;
  for (auto& r : rows)
    if (!std::isnan(r.age)) s += r.age, ++c;
  const double mean_age = s / c;
  EXPECT_NEAR(m.features[0].impute, mean_age, 1e-9);
  EXPECT_NEAR(m.mean[0], mean_age, 1e-9);
  double ss = 0;
  for (auto& r : rows) {
    const double v = std::isnan(r.age) ? mean_age : r.age;
    ss += (v - mean_age) * (v - mean_age);
  }
  EXPECT_NEAR(m.scale[0], std::sqrt(ss / double(rows.size())), 1e-9);
  // One-hot columns stay 0/1 by default.
  for (int j = 2; j < m.encoded_dim(); ++j) {
    EXPECT_EQ(m.mean[size_t(j)], 0);
    EXPECT_EQ(m.scale[size_t(j)], 1);
  }
  EXPECT_EQ(m.info.rows_seen, 600);
  EXPECT_EQ(m.info.rows_used, 600);
  EXPECT_EQ(m.k, 3);
  EXPECT_EQ(m.n_components, 2);
}

TEST(Fit, MergedPartsEqualOnePass) {
  auto rows = customers(900, 2);
  const std::string opts = R"({"k": 3, "seed": 5})";
  Model whole = accumulate(rows, 0, rows.size(), opts).finish();
  FitAccumulator a = accumulate(rows, 0, 250, opts);
  FitAccumulator b = accumulate(rows, 250, 700, opts);
  FitAccumulator c = accumulate(rows, 700, rows.size(), opts);
  b.merge(c);
  a.merge(b);
  Model merged = a.finish();
  ASSERT_EQ(merged.encoded_dim(), whole.encoded_dim());
  for (size_t j = 0; j < whole.mean.size(); ++j) {
    EXPECT_NEAR(merged.mean[j], whole.mean[j], 1e-9 * std::max(1.0, std::abs(whole.mean[j])));
    EXPECT_NEAR(merged.scale[j], whole.scale[j], 1e-9 * whole.scale[j]);
  }
  for (size_t j = 0; j < whole.components.size(); ++j) EXPECT_NEAR(merged.components[j], whole.components[j], 1e-9);
  // k-means runs on the same rows in the same canonical order: the same centroids.
  ASSERT_EQ(merged.centroids.size(), whole.centroids.size());
  for (size_t j = 0; j < whole.centroids.size(); ++j) EXPECT_NEAR(merged.centroids[j], whole.centroids[j], 1e-8);
  EXPECT_NEAR(merged.info.inertia, whole.info.inertia, 1e-8 * whole.info.inertia);
}

// k-means sees the rows in a canonical order: shuffled input gives the same centroids (the scaler's
// sums, taken in another order, may differ in the last bits), also when many rows tie on the first
// column (whole-number ages, no PCA) and the order is settled by the others.
TEST(Fit, ShuffledRowsGiveTheSameCentroids) {
  auto rows = customers(3000, 7);
  for (auto& r : rows)
    if (!std::isnan(r.age)) r.age = std::round(r.age);
  const std::string opts = R"({"k": 3, "seed": 2, "n_components": null})";
  const Model a = accumulate(rows, 0, rows.size(), opts).finish();
  std::mt19937_64 gen(11);
  std::shuffle(rows.begin(), rows.end(), gen);
  const Model b = accumulate(rows, 0, rows.size(), opts).finish();
  ASSERT_EQ(a.centroids.size(), b.centroids.size());
  for (size_t j = 0; j < a.centroids.size(); ++j) EXPECT_NEAR(a.centroids[j], b.centroids[j], 1e-9);
  EXPECT_NEAR(a.info.inertia, b.info.inertia, 1e-9 * a.info.inertia);
  EXPECT_EQ(a.info.n_iter, b.info.n_iter);
}

// A state cut to its bottom sample_size entries as it leaves a scan (FitStateView::compact_sample,
// run when a worker's or a shard's state is flattened) gives the same model, byte for byte, alone
// and merged with other states; repeated rows are merged with their counts.
TEST(Fit, CompactedSampleGivesTheSameModel) {
  auto rows = customers(3000, 12);
  for (size_t i = 0; i < rows.size(); i += 5) rows[i] = rows[i / 5];  // repeats
  const std::string opts = R"({"k": 3, "seed": 4, "sample_size": 500})";
  auto compacted = [](const FitAccumulator& acc) {
    std::vector<uint8_t> bytes = acc.bytes();
    FitStateView(bytes.data(), bytes.size()).compact_sample();
    return bytes;
  };
  const FitAccumulator whole = accumulate(rows, 0, rows.size(), opts);
  const std::vector<uint8_t> cut = compacted(whole);
  EXPECT_LT(decode_state(cut.data(), cut.size()).sample_entries(), decode_state(whole.bytes().data(), whole.bytes().size()).sample_entries());
  EXPECT_LE(decode_state(cut.data(), cut.size()).sample_entries(), 500u);
  EXPECT_EQ(serialize(decode_state(cut.data(), cut.size()).finish()), serialize(whole.finish()));
  // Merged: two parts, one of them cut, against the same parts uncut.
  const FitAccumulator a = accumulate(rows, 0, 1700, opts), b = accumulate(rows, 1700, rows.size(), opts);
  FitParts plain = decode_state(a.bytes().data(), a.bytes().size());
  FitParts other = decode_state(b.bytes().data(), b.bytes().size());
  plain.merge(other);
  const std::vector<uint8_t> a_cut = compacted(a);
  FitParts with_cut = decode_state(a_cut.data(), a_cut.size());
  FitParts other2 = decode_state(b.bytes().data(), b.bytes().size());
  with_cut.merge(other2);
  EXPECT_EQ(serialize(with_cut.finish()), serialize(plain.finish()));
  // A sample within sample_size, or a dedupe state, is left as it is.
  const FitAccumulator small = accumulate(rows, 0, 300, opts);
  EXPECT_EQ(compacted(small), small.bytes());
  std::vector<Row> twice(rows.begin() + 1000, rows.begin() + 1350);
  twice.insert(twice.end(), rows.begin() + 1000, rows.begin() + 1350);  // 700 entries, 350 distinct
  const FitAccumulator dd = accumulate(twice, 0, twice.size(), R"({"k": 3, "seed": 4, "sample_size": 500, "dedupe": true})");
  ASSERT_GT(decode_state(dd.bytes().data(), dd.bytes().size()).sample_entries(), 500u);
  EXPECT_EQ(compacted(dd), dd.bytes());
}

TEST(Fit, SameSeedSameModelBytes) {
  auto rows = customers(400, 3);
  const std::string opts = R"({"k": 4, "seed": 9})";
  EXPECT_EQ(serialize(accumulate(rows, 0, rows.size(), opts).finish()),
            serialize(accumulate(rows, 0, rows.size(), opts).finish()));
}

TEST(Fit, StateSurvivesEncodeDecode) {
  auto rows = customers(300, 4);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 2, "seed": 1})");
  FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  EXPECT_EQ(p.seen, 300u);
  EXPECT_EQ(p.levels.size(), 4u);
  std::vector<uint8_t> again = encode_state(p);
  EXPECT_EQ(serialize(decode_state(again.data(), again.size()).finish()), serialize(acc.finish()));
}

TEST(Fit, CorruptStateIsRejectedNotRead) {
  auto rows = customers(50, 5);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 2})");
  const std::vector<uint8_t>& good = acc.bytes();
  for (size_t len = 0; len < good.size(); len += 7) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + long(len));
    EXPECT_THROW(decode_state(cut.data(), cut.size()), Error) << "prefix " << len;
  }
}

// The level memo (LevelMemo) gives the state the same bytes as the level hash alone: texts of every
// length class (empty, under 4, under 8, 8 to 16 bytes with equal first and last words, longer
// than 16), a column of a few levels, one of more levels than the memo holds (which stops using
// it), new levels after the memo is full, and buffers replaced as the state grows.
TEST(Fit, LevelMemoGivesTheSameState) {
  const std::vector<std::string> few = {"", "a", "ab", "abc", "abcd", "abcdefg", "abcdefgh", "abcdefghi",
                                        "abcdefgh--------", "abcdefgh-+------", "abcdefgh-------+",
                                        "abcdefghijklmnopq", "abcdefghijklmnopr"};
  std::vector<std::string> many;
  for (int i = 0; i < 300; ++i) many.push_back("city_" + std::to_string(i));
  const std::string options = R"({"k": 2, "sample_size": 2000})";
  FitAccumulator with({"x", "few", "many"}, 1, options);
  std::vector<uint8_t> without = FitAccumulator({"x", "few", "many"}, 1, options).bytes();
  std::mt19937_64 gen(3);
  for (int r = 0; r < 6000; ++r) {
    // The first rows draw from a few texts only, so the memo fills before the rest arrive.
    const std::string& f = few[size_t(gen() % (r < 500 ? 4 : few.size()))];
    const std::string& m = many[size_t(gen() % many.size())];
    double num[1] = {double(gen() % 1000) / 10.0};
    StrRef cat[2] = {StrRef{f.data(), f.size(), false}, StrRef{m.data(), m.size(), r % 17 == 0}};
    with.add_row(num, cat);
    FitStateView view(without.data(), without.size());
    if (!view.add_row(num, cat)) {
      if (const size_t len = view.grown_length(cat)) {
        std::vector<uint8_t> next(len);
        view.grow_into(next.data(), len);
        without = std::move(next);
      } else {
        FitParts p = decode_state(without.data(), without.size());
        p.prepare(cat);
        without = encode_state(p);
      }
      ASSERT_TRUE(FitStateView(without.data(), without.size()).add_row(num, cat));
    }
  }
  EXPECT_TRUE(with.bytes() == without);
  const FitParts p = decode_state(with.bytes().data(), with.bytes().size());
  EXPECT_EQ(p.levels.size(), few.size() + many.size());
}

// A full reservoir grows by copying the flat state; the result is byte for byte what decoding,
// preparing and encoding gives, at each fourfold growth up to sample_size.
TEST(Fit, ReservoirGrowsByCopyAsByEncoding) {
  auto rows = customers(5000, 9);
  FitAccumulator acc({"age", "income", "region"}, 2, R"({"k": 3, "sample_size": 3000})");
  int grown = 0;
  for (const Row& row : rows) {
    std::vector<uint8_t> bytes = acc.bytes();
    FitStateView view(bytes.data(), bytes.size());
    double num[2] = {row.age, row.income};
    StrRef cat;
    if (row.region) cat = StrRef{row.region, std::strlen(row.region), false};
    if (!view.add_row(num, &cat)) {
      if (const size_t len = view.grown_length(&cat)) {
        // The new room is left as allocated (the extension's buffers are not zeroed): garbage here,
        // which nothing may read. The state equals the encoded one in its compact form, before
        // and after taking the row.
        std::vector<uint8_t> copied(len, 0xA5);
        view.grow_into(copied.data(), len);
        FitParts p = decode_state(bytes.data(), bytes.size());
        p.prepare(&cat);
        std::vector<uint8_t> encoded = encode_state(p);
        ASSERT_EQ(copied.size(), encoded.size());
        const auto compact = [](std::vector<uint8_t>& b) {
          std::vector<uint8_t> out(compact_state_length(b.data(), b.size()));
          compact_state_into(b.data(), b.size(), out.data(), out.size());
          return out;
        };
        EXPECT_EQ(compact(copied), compact(encoded));
        ASSERT_TRUE(FitStateView(copied.data(), copied.size()).add_row(num, &cat));
        ASSERT_TRUE(FitStateView(encoded.data(), encoded.size()).add_row(num, &cat));
        EXPECT_EQ(compact(copied), compact(encoded));
        ++grown;
      }
    }
    add(acc, row);
  }
  // 0 -> 1024 -> 4516 entries of room (1.5 x 3000 + 16): the first row's category is added in the
  // state's category room, so even the first growth is a copy.
  EXPECT_EQ(grown, 2);
  // The sample holds the 3000 rows of smallest hash (after a compaction at most 1.5 x as many).
  const FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  EXPECT_GE(p.sample_entries(), 3000u);
  EXPECT_LE(p.sample_entries(), 4516u);
  EXPECT_EQ(draw_sample(p, 0).rows, 3000u);
}

// A column of many categories: they are added in the state's room in place, so the state is
// rebuilt only when the room doubles, not per category; the moments equal a dense computation over
// the one-hot rows, also across the larger pending blocks of a wide state (509 encoded columns);
// and the compact form (what a partial state ships as) has no room left, decodes to the same parts
// and takes further rows.
TEST(Fit, ManyCategoriesAreAddedInPlace) {
  const int n = 6000, levels = 500;
  std::mt19937_64 gen(11);
  std::normal_distribution<double> z(0, 1);
  std::vector<std::string> text;
  for (int i = 0; i < levels; ++i) text.push_back("city " + std::to_string(i));
  std::vector<std::array<double, 2>> num(n);
  std::vector<int> city(n), channel(n);
  for (int r = 0; r < n; ++r) {
    num[size_t(r)] = {z(gen), r % 13 == 0 ? kNaN : 100 + 10 * z(gen)};
    city[size_t(r)] = int(gen() % levels);
    channel[size_t(r)] = r % 29 == 0 ? -1 : int(gen() % 7);
  }
  const std::vector<std::string> channels = {"a", "b", "c", "d", "e", "f", "g"};
  auto refs = [&](int r, StrRef* cat) {
    const std::string& c = text[size_t(city[size_t(r)])];
    cat[0] = StrRef{c.data(), c.size(), false};
    cat[1] = channel[size_t(r)] < 0 ? StrRef{} : StrRef{channels[size_t(channel[size_t(r)])].data(), 1, false};
  };
  const std::string opts = R"({"k": 3, "seed": 2})";
  std::vector<uint8_t> bytes = encode_state(FitParts({"x", "y", "city", "channel"}, 2, opts));
  int rebuilds = 0;
  auto add_rows = [&](int from, int to) {
    for (int r = from; r < to; ++r) {
      StrRef cat[2];
      refs(r, cat);
      FitStateView view(bytes.data(), bytes.size());
      if (view.add_row(num[size_t(r)].data(), cat)) continue;
      if (const size_t len = view.grown_length(cat)) {
        std::vector<uint8_t> next(len);
        view.grow_into(next.data(), len);
        bytes = std::move(next);
      } else {
        FitParts p = decode_state(bytes.data(), bytes.size());
        p.prepare(cat);
        bytes = encode_state(p);
        ++rebuilds;
      }
      ASSERT_TRUE(FitStateView(bytes.data(), bytes.size()).add_row(num[size_t(r)].data(), cat));
    }
  };
  add_rows(0, n / 2);
  // The compact form: no category room, no spare text, the same parts.
  const size_t clen = compact_state_length(bytes.data(), bytes.size());
  std::vector<uint8_t> compact(clen);
  compact_state_into(bytes.data(), bytes.size(), compact.data(), clen);
  {
    FitParts a = decode_state(bytes.data(), bytes.size()), b = decode_state(compact.data(), compact.size());
    EXPECT_EQ(b.level_cap, b.levels.size());
    EXPECT_EQ(a.levels, b.levels);
    a.fold_pending();
    b.fold_pending();
    EXPECT_LT((a.moments.M() - b.moments.M()).cwiseAbs().maxCoeff(), 1e-9 * a.moments.M().cwiseAbs().maxCoeff());
    ASSERT_EQ(a.sample.size(), b.sample.size());
    EXPECT_EQ(std::memcmp(a.sample.data(), b.sample.data(), 8 * a.sample.size()), 0);
  }
  EXPECT_LT(clen, bytes.size());
  bytes = compact;  // and rows go on into the compact form
  add_rows(n / 2, n);
  FitParts p = decode_state(bytes.data(), bytes.size());
  EXPECT_EQ(p.levels.size(), size_t(levels + 7));
  // Room doubles from 16 categories: 5 rebuilds to 512, and as many again after the compact form.
  EXPECT_LE(rebuilds, 12) << "a rebuild per doubling of the room, not per category";
  p.fold_pending();
  // Dense one-hot rows in the state's category order.
  std::map<std::pair<int, std::string>, int> id;
  for (size_t i = 0; i < p.levels.size(); ++i) id[{p.level_col[i], p.levels[i]}] = int(i);
  const int dim = 2 + int(p.levels.size());
  RowMatrix X = RowMatrix::Zero(n, dim);
  for (int r = 0; r < n; ++r) {
    X(r, 0) = num[size_t(r)][0];
    X(r, 1) = num[size_t(r)][1];
    X(r, 2 + id.at({0, text[size_t(city[size_t(r)])]})) = 1;
    if (channel[size_t(r)] >= 0) X(r, 2 + id.at({1, channels[size_t(channel[size_t(r)])]})) = 1;
  }
  Moments direct(dim);
  direct.add(X);
  ASSERT_EQ(p.moments.dim(), dim);
  EXPECT_EQ(p.moments.count(), double(n));
  EXPECT_LT((p.moments.N() - direct.N()).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((p.moments.A() - direct.A()).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((p.moments.M() - direct.M()).cwiseAbs().maxCoeff(), 1e-9 * direct.M().cwiseAbs().maxCoeff());
  EXPECT_NO_THROW(p.finish());
}

TEST(Fit, StateSectionOverTheHeaderIsRejected) {
  auto rows = customers(50, 5);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 2})");
  std::vector<uint8_t> bad = acc.bytes();
  // The sample's offset (header field at 8 + 232) moved onto the header itself.
  uint64_t was;
  std::memcpy(&was, bad.data() + 8 + 232, sizeof was);
  ASSERT_GE(was, 256u);  // past the 248-byte header
  ASSERT_LT(was, bad.size());
  const uint64_t off = 16;
  std::memcpy(bad.data() + 8 + 232, &off, sizeof off);
  try {
    decode_state(bad.data(), bad.size());
    FAIL() << "accepted a sample over the header";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidBinary);
  }
}

// A sample entry's category id must be -1 or a whole number below the levels: anything else (a
// fraction, a number past the levels, below -1, NaN, an infinity) is an invalid state, not an
// index. So is a pending row's.
TEST(Fit, StateWithBadCategoryIdIsRejected) {
  auto rows = customers(50, 5);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 2})");
  const std::vector<uint8_t>& good = acc.bytes();
  const FitParts p = decode_state(good.data(), good.size());
  ASSERT_GT(p.sample_entries(), 0u);
  ASSERT_EQ(p.n_categorical(), 1);
  // The first sample entry, found in the bytes by its content (hash, count, numbers, id); its
  // category id is past the hash, the count and the numbers.
  const size_t entry_bytes = 8 * size_t(p.entry_width());
  const auto* first = reinterpret_cast<const uint8_t*>(p.sample_data());
  const auto found = std::search(good.begin(), good.end(), first, first + entry_bytes);
  ASSERT_NE(found, good.end());
  const size_t at = size_t(found - good.begin()) + 8 * size_t(FitParts::kEntryExtra + p.n_numeric);
  double id;
  std::memcpy(&id, good.data() + at, sizeof id);
  ASSERT_GE(id, 0);
  ASSERT_LT(id, double(p.levels.size()));
  const double nl = double(p.levels.size());
  for (double bad : {0.5, nl - 0.5, nl, 1e12, -2.0, -0.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data() + at, &bad, sizeof bad);
    try {
      decode_state(b.data(), b.size());
      ADD_FAILURE() << "accepted category id " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidBinary) << bad;
    }
  }
  for (double fine : {-1.0, 0.0, nl - 1}) {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data() + at, &fine, sizeof fine);
    EXPECT_NO_THROW(decode_state(b.data(), b.size())) << fine;
  }
  // A pending row (its numbers, then its id; the first match is the pending row, which precedes
  // the sample): the same row's numbers as the entry's.
  ASSERT_GT(p.pending.size(), 0u);
  const auto* numbers = reinterpret_cast<const uint8_t*>(p.pending.data());
  const auto pending = std::search(good.begin(), good.end(), numbers, numbers + 8 * size_t(p.row_width()));
  ASSERT_NE(pending, good.end());
  const size_t pending_at = size_t(pending - good.begin()) + 8 * size_t(p.n_numeric);
  for (double bad : {0.5, nl, -2.0, std::numeric_limits<double>::quiet_NaN()}) {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data() + pending_at, &bad, sizeof bad);
    EXPECT_THROW(decode_state(b.data(), b.size()), Error) << "pending id " << bad;
  }
}

TEST(Fit, AllNullColumnIsAnError) {
  FitAccumulator acc({"a", "b"}, 2, R"({"k": 2})");
  for (int i = 0; i < 10; ++i) {
    double num[2] = {double(i), kNaN};
    acc.add_row(num, nullptr);
  }
  try {
    acc.finish();
    FAIL() << "trained on an all-NULL column";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataException);
    EXPECT_NE(std::string(e.what()).find("\"b\""), std::string::npos);
  }
}

TEST(Fit, OverflowingVarianceIsAnErrorNamingTheColumn) {
  FitAccumulator acc({"a", "huge"}, 2, R"({"k": 2})");
  for (int i = 0; i < 10; ++i) {
    double num[2] = {double(i), i % 2 ? 1e300 : -1e300};
    acc.add_row(num, nullptr);
  }
  try {
    acc.finish();
    FAIL() << "trained with a variance that overflows";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("\"huge\""), std::string::npos) << e.what();
  }
}

TEST(Fit, TooFewDistinctRowsSaysHowMany) {
  FitAccumulator acc({"a"}, 1, R"({"k": 2, "n_components": null})");
  for (int i = 0; i < 5; ++i) {
    double num[1] = {7};
    acc.add_row(num, nullptr);
  }
  try {
    acc.finish();
    FAIL() << "two clusters from one distinct row";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataException);
    EXPECT_EQ(std::string(e.what()), "only 1 distinct row for k = 2");
  }
}

TEST(Fit, NoRowsIsAnError) {
  FitAccumulator acc({"a"}, 1, R"({"k": 2})");
  acc.add_skipped();
  EXPECT_THROW(acc.finish(), Error);
}

TEST(Fit, PlanFeaturesResolvesRoles) {
  std::vector<ColumnInfo> cols = {{"id", ColumnType::kNumber, "integer"},
                                  {"age", ColumnType::kNumber, "integer"},
                                  {"region", ColumnType::kText, "text"},
                                  {"zip", ColumnType::kNumber, "integer"},
                                  {"active", ColumnType::kBool, "boolean"}};
  FitOptions o;
  o.exclude = {"id"};
  o.categorical = {"zip"};
  FeaturePlan p = plan_features(cols, o);
  EXPECT_EQ(p.names, (std::vector<std::string>{"age", "active", "region", "zip"}));
  EXPECT_EQ(p.n_numeric, 2);
  EXPECT_TRUE(p.features[3].convert);

  FitOptions bad;
  bad.exclude = {"nope"};
  try {
    plan_features(cols, bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUndefinedColumn);
  }
  std::vector<ColumnInfo> with_json = {{"a", ColumnType::kNumber, "integer"}, {"j", ColumnType::kOther, "jsonb"}};
  try {
    plan_features(with_json, FitOptions{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDatatypeMismatch);
  }
}


// ---- the bottom-k sample ----

// The sampled rows of a state, as sorted (age, income, region) triples with their copies.
std::vector<std::tuple<double, double, std::string, uint64_t>> sampled(const FitAccumulator& acc) {
  const FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  const SampleDraw d = draw_sample(p, 0);
  std::vector<std::tuple<double, double, std::string, uint64_t>> out;
  for (size_t i = 0; i < d.entry.size(); ++i) {
    if (d.copies[i] == 0) continue;
    const double* row = p.sample_data() + d.entry[i] * size_t(p.entry_width()) + FitParts::kEntryExtra;
    // NULL age as -infinity: NaN would never compare equal.
    out.emplace_back(std::isnan(row[0]) ? -HUGE_VAL : row[0], row[1], row[2] < 0 ? std::string("<null>") : p.levels[size_t(row[2])], d.copies[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Above sample_size the sample is the same set of rows whatever the order of the rows and however
// they are split and merged: the same rows, the same centroids, every row the same segment.
TEST(Sample, IndependentOfRowOrderAndOfMergeOrder) {
  auto rows = customers(20000, 21);
  const std::string opts = R"({"k": 3, "seed": 4, "sample_size": 700})";
  const FitAccumulator whole = accumulate(rows, 0, rows.size(), opts);
  const Model mw = whole.finish();
  EXPECT_EQ(mw.info.rows_clustered, 700);
  EXPECT_EQ(mw.info.rows_used, 20000);
  std::mt19937_64 gen(5);
  auto shuffled = rows;
  std::shuffle(shuffled.begin(), shuffled.end(), gen);
  // Three uneven parts of the shuffled rows, merged in two different orders.
  FitAccumulator a = accumulate(shuffled, 0, 3000, opts), b = accumulate(shuffled, 3000, 12000, opts),
                 c = accumulate(shuffled, 12000, shuffled.size(), opts);
  FitAccumulator a2 = a, b2 = b, c2 = c;
  c.merge(a);
  c.merge(b);
  b2.merge(c2);
  a2.merge(b2);
  EXPECT_EQ(sampled(c), sampled(whole));
  EXPECT_EQ(sampled(a2), sampled(whole));
  EXPECT_EQ(sampled(accumulate(shuffled, 0, shuffled.size(), opts)), sampled(whole));
  for (const FitAccumulator* acc : {&c, &a2}) {
    const Model m = acc->finish();
    ASSERT_EQ(m.centroids.size(), mw.centroids.size());
    for (size_t j = 0; j < mw.centroids.size(); ++j) EXPECT_NEAR(m.centroids[j], mw.centroids[j], 1e-9);
    const std::vector<uint8_t> b1 = serialize(mw), b2 = serialize(m);
    ModelView v1(b1.data(), b1.size()), v2(b2.data(), b2.size());
    std::vector<double> scratch(size_t(v1.encoded_dim())), p1(size_t(v1.output_dim())), p2(p1.size());
    int differ = 0;
    for (const Row& row : rows) {
      double num[2] = {row.age, row.income};
      StrRef cat;
      if (row.region) cat = StrRef{row.region, std::strlen(row.region), false};
      v1.transform(num, &cat, scratch.data(), p1.data());
      v2.transform(num, &cat, scratch.data(), p2.data());
      differ += v1.nearest(p1.data()).segment != v2.nearest(p2.data()).segment;
    }
    EXPECT_EQ(differ, 0);
  }
}

// A table of few distinct rows repeated many times: the sample keeps each with its count and
// draws sample_size rows from them uniformly, so every value is represented in proportion.
TEST(Sample, RepeatedRowsAreSampledInProportion) {
  FitAccumulator acc({"x", "g"}, 1, R"({"k": 3, "sample_size": 3000, "n_components": null})");
  const char* g[] = {"a", "b", "c"};
  for (int i = 0; i < 30000; ++i) {
    const int v = i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2;  // 60%, 30%, 10%
    double x = 10.0 * v;
    StrRef cat{g[v], 1, false};
    acc.add_row(&x, &cat);
  }
  const auto s = sampled(acc);
  ASSERT_EQ(s.size(), 3u);
  uint64_t total = 0;
  for (const auto& e : s) total += std::get<3>(e);
  EXPECT_EQ(total, 3000u);
  // Hypergeometric: standard deviation about 26 rows for the 60% value.
  EXPECT_NEAR(double(std::get<3>(s[0])), 1800, 130);
  EXPECT_NEAR(double(std::get<3>(s[1])), 900, 130);
  EXPECT_NEAR(double(std::get<3>(s[2])), 300, 90);
  const Model m = acc.finish();
  EXPECT_EQ(m.info.rows_clustered, 3000);
}

// Uniform: rows numbered 0..n-1 are kept without regard to their number or arrival position.
TEST(Sample, UniformOverTheRows) {
  const int n = 100000, s = 5000;
  for (uint64_t seed : {0, 1, 2}) {
    FitAccumulator acc({"i"}, 1, R"({"k": 2, "n_components": null, "sample_size": 5000, "seed": )" +
                                     std::to_string(seed) + "}");
    for (int i = 0; i < n; ++i) {
      double x = i;
      acc.add_row(&x, nullptr);
    }
    const FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
    const SampleDraw d = draw_sample(p, seed);
    ASSERT_EQ(d.rows, uint64_t(s));
    int first_half = 0, first_tenth = 0;
    for (size_t i = 0; i < d.entry.size(); ++i) {
      const double x = p.sample_data()[d.entry[i] * size_t(p.entry_width()) + FitParts::kEntryExtra];
      first_half += x < n / 2;
      first_tenth += x < n / 10;
    }
    // Binomial-like spreads: 35 rows for a half, 21 for a tenth; 5 standard deviations allowed.
    EXPECT_NEAR(first_half, s / 2, 180) << "seed " << seed;
    EXPECT_NEAR(first_tenth, s / 10, 110) << "seed " << seed;
  }
}

// Every row up to sample_size: the sample is every row, repeats included.
TEST(Sample, EveryRowUpToSampleSize) {
  FitAccumulator acc({"x"}, 1, R"({"k": 2, "n_components": null, "sample_size": 1000})");
  for (int i = 0; i < 1000; ++i) {
    double x = i % 7;
    acc.add_row(&x, nullptr);
  }
  const FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  const SampleDraw d = draw_sample(p, 0);
  EXPECT_EQ(d.rows, 1000u);
  EXPECT_EQ(d.entry.size(), 7u);
}

}  // namespace
}  // namespace custseg::core

namespace custseg::core {
namespace {

Model three_segments(uint64_t seed) {
  auto rows = customers(600, 7);
  return accumulate(rows, 0, rows.size(), R"({"k": 3, "seed": )" + std::to_string(seed) + "}").finish();
}

TEST(Segments, PermutedCentroidsMatchTheirOriginals) {
  Model a = three_segments(1);
  Model b = a;
  const int P = b.output_dim();
  const int perm[3] = {2, 0, 1};  // b's centroid i is a's centroid perm[i]
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < P; ++j) b.centroids[size_t(i * P + j)] = a.centroids[size_t(perm[i] * P + j)];
  SegmentMatch m = match_segments(b, a);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(m.previous_of[size_t(i)], perm[i]);
    EXPECT_NEAR(m.distance[size_t(i)], 0, 1e-9);
  }
}

TEST(Segments, ExtraCentroidIsNew) {
  Model a = three_segments(1);
  Model b = a;
  const int P = b.output_dim();
  b.k = 4;
  for (int j = 0; j < P; ++j) b.centroids.push_back(50.0);  // far from everything
  b.segment_ids.push_back(3);
  SegmentMatch m = match_segments(b, a);
  EXPECT_EQ(m.previous_of, (std::vector<int>{0, 1, 2, -1}));
  // And the other way round: a's centroids all find theirs among b's.
  SegmentMatch back = match_segments(a, b);
  EXPECT_EQ(back.previous_of, (std::vector<int>{0, 1, 2}));
}

TEST(Segments, AssignmentIsOptimalNotGreedy) {
  // Previous centroids at 0, 3 and 20 (on the diagonal of the k-means space); new ones at 1.6, 4.6
  // and 20.1. Greedy in order would give 1.6 -> 3 and leave 4.6 -> 0 (total 6.1); the optimum pairs
  // 1.6 -> 0 and 4.6 -> 3 (total 3.3).
  Model prev = three_segments(1), next = prev;
  const int P = prev.output_dim();
  const double p_at[3] = {0, 3, 20}, n_at[3] = {1.6, 4.6, 20.1};
  for (int c = 0; c < 3; ++c)
    for (int j = 0; j < P; ++j) {
      prev.centroids[size_t(c * P + j)] = p_at[c];
      next.centroids[size_t(c * P + j)] = n_at[c];
    }
  SegmentMatch m = match_segments(next, prev, 10.0);
  EXPECT_EQ(m.previous_of, (std::vector<int>{0, 1, 2}));
  // With the default threshold (half the distance to the nearest previous neighbour, 1.5 here)
  // 1.6 -> 0 is too far to count as the same segment.
  SegmentMatch strict = match_segments(next, prev);
  EXPECT_EQ(strict.previous_of[0], -1);
  EXPECT_EQ(strict.previous_of[2], 2);
}

TEST(Segments, EvaluateKMatchesTrainingPerK) {
  auto rows = customers(450, 8);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 5, "seed": 3})");
  FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  std::vector<KEvaluation> ev = p.evaluate_k(2, 5);
  ASSERT_EQ(ev.size(), 4u);
  int chosen = 0, elbows = 0;
  for (const auto& e : ev) {
    chosen += e.chosen;
    elbows += e.is_elbow;
    Model m = accumulate(rows, 0, rows.size(), R"({"k": )" + std::to_string(e.k) + R"(, "seed": 3})").finish();
    EXPECT_EQ(e.inertia, m.info.inertia) << "k = " << e.k;
    EXPECT_EQ(e.silhouette, m.info.silhouette) << "k = " << e.k;
  }
  EXPECT_EQ(chosen, 1);
  EXPECT_LE(elbows, 1);
  // Three planted groups.
  for (const auto& e : ev)
    if (e.chosen) {
      EXPECT_EQ(e.k, 3);
    }
  EXPECT_THROW(p.evaluate_k(1, 3), Error);
  EXPECT_THROW(p.evaluate_k(4, 3), Error);
}

// An imposed sample threshold that kept every row passes the fit's check even when the rows repeat
// so that the draw takes fewer of them than were kept (5,000 rows of 4 distinct contents, a sample
// of 100); one that dropped rows the sample needed is CS001 (kSampleRetry).
TEST(Fit, SampleThresholdThatKeptEveryRowIsExact) {
  std::vector<Row> rows;
  static const char* regions[] = {"north", "south"};
  for (int i = 0; i < 5000; ++i) rows.push_back({double(20 + 10 * (i % 2)), 1000.0 * (i % 4 < 2), regions[i % 4 / 2]});
  const std::string opts = R"({"k": 2, "seed": 1, "sample_size": 100)";
  const Model plain = accumulate(rows, 0, rows.size(), opts + "}").finish();
  const Model bounded =
      accumulate(rows, 0, rows.size(), opts + R"(, "_sample_threshold": "18446744073709551614"})").finish();
  EXPECT_EQ(serialize(bounded), serialize(plain));
  try {
    accumulate(rows, 0, rows.size(), opts + R"(, "_sample_threshold": "1"})").finish();
    ADD_FAILURE() << "a threshold that dropped every row was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kSampleRetry);
  }
}

// Above 10,000 rows the silhouette is estimated on a sample, in stages: evaluate_k computes every
// k's together and still gets each training's own, bit for bit, with the rows it took.
TEST(Segments, EvaluateKMatchesTrainingPerKOnASample) {
  auto rows = customers(12000, 9);
  FitAccumulator acc = accumulate(rows, 0, rows.size(), R"({"k": 4, "seed": 5})");
  FitParts p = decode_state(acc.bytes().data(), acc.bytes().size());
  std::vector<KEvaluation> ev = p.evaluate_k(2, 4);
  ASSERT_EQ(ev.size(), 3u);
  for (const auto& e : ev) {
    Model m = accumulate(rows, 0, rows.size(), R"({"k": )" + std::to_string(e.k) + R"(, "seed": 5})").finish();
    EXPECT_EQ(e.silhouette, m.info.silhouette) << "k = " << e.k;
    EXPECT_EQ(e.silhouette_rows, m.info.silhouette_rows) << "k = " << e.k;
    EXPECT_LE(e.silhouette_rows, 10000) << "k = " << e.k;
  }
}


}  // namespace
}  // namespace custseg::core
