#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstring>
#include <limits>

#include "errors.h"
#include "fit.h"
#include "model.h"
#include "test_util.h"

namespace custseg::core {
namespace {

// A small fitted model with numeric and categorical features, PCA and k-means.
Model small_model(const std::string& opts = R"({"k": 3, "seed": 2})") {
  static const char* colours[] = {"red", "green", "blue"};
  RowMatrix X = testing::blobs({{0, 0}, {6, 1}, {2, 7}}, 40, 1.0, 3);
  FitAccumulator acc({"x", "y", "colour"}, 2, opts);
  for (int i = 0; i < X.rows(); ++i) {
    double num[2] = {X(i, 0), i % 11 == 0 ? std::numeric_limits<double>::quiet_NaN() : X(i, 1)};
    StrRef cat{colours[i % 3], std::strlen(colours[i % 3]), i % 13 == 0};
    acc.add_row(num, &cat);
  }
  return acc.finish();
}

TEST(Model, BinaryRoundTripIsExact) {
  Model m = small_model();
  std::vector<uint8_t> bytes = serialize(m);
  Model back = deserialize(bytes.data(), bytes.size());
  EXPECT_EQ(serialize(back), bytes);
  EXPECT_EQ(back.encoded_names(), m.encoded_names());
}

TEST(Model, JsonRoundTripIsExact) {
  Model m = small_model(R"({"k": 2, "n_components": 0.8, "scale_categoricals": true, "seed": 4})");
  const std::string text = to_json_text(m);
  Model back = from_json_text(text);
  EXPECT_EQ(serialize(back), serialize(m));
  EXPECT_EQ(to_json_text(back), text);
}

TEST(Model, ViewTransformsAsTheFormulaSays) {
  Model m = small_model();
  std::vector<uint8_t> bytes = serialize(m);
  ModelView v(bytes.data(), bytes.size());
  const int D = m.encoded_dim(), P = m.output_dim();
  ASSERT_EQ(D, 5);  // x, y, colour_blue, colour_green, colour_red
  double num[2] = {1.5, std::numeric_limits<double>::quiet_NaN()};
  StrRef cat{"green", 5, false};
  std::vector<double> scratch(static_cast<size_t>(D)), out(static_cast<size_t>(P));
  v.transform(num, &cat, scratch.data(), out.data());
  // By hand: impute y, one-hot green, scale, centre for PCA, project.
  std::vector<double> e = {1.5, m.features[1].impute, 0, 1, 0};
  for (int j = 0; j < D; ++j) e[size_t(j)] = (e[size_t(j)] - m.mean[size_t(j)]) / m.scale[size_t(j)];
  for (int c = 0; c < P; ++c) {
    double s = 0;
    for (int j = 0; j < D; ++j) s += (e[size_t(j)] - m.pca_mean[size_t(j)]) * m.components[size_t(c * D + j)];
    EXPECT_NEAR(out[size_t(c)], s, 1e-12);
  }
  // The nearest centroid, with its distance.
  Score s = v.nearest(out.data());
  double best = INFINITY;
  int at = -1;
  for (int c = 0; c < m.k; ++c) {
    double d = 0;
    for (int j = 0; j < P; ++j) d += std::pow(out[size_t(j)] - m.centroids[size_t(c * P + j)], 2);
    if (d < best) best = d, at = c;
  }
  EXPECT_EQ(s.index, at);
  EXPECT_NEAR(s.distance, std::sqrt(best), 1e-12);
  EXPECT_GE(s.runner_up, s.distance);
}

// A column of a few short levels compares its levels' keys (text_key.h) in turn, one of more short
// levels hashes the keys, one with a longer level hashes the texts: each finds every level and no
// other text, whatever its length.
TEST(Model, LevelsAreFoundByKeyAndByIndex) {
  const std::vector<std::string> small = {"", "a", "abc", "abcd", "abcdefgh", "abcdefgh-", "abcdefghijklmnop"};
  std::vector<std::string> medium = small;
  for (const char* t : {"b", "ab", "abcdefgi", "abcdefgh+", "abcdefghijklmnoq", "bcdefghijklmnop"}) medium.push_back(t);
  for (int i = 0; i < 200; ++i) medium.push_back("city_" + std::to_string(i));  // alike but for their ends
  std::vector<std::string> large = small;
  large.push_back("abcdefghijklmnopq");  // 17 bytes: this column hashes the texts
  const std::vector<const std::vector<std::string>*> columns = {&small, &medium, &large};
  FitAccumulator acc({"x", "small", "medium", "large"}, 1, R"({"k": null, "n_components": null})");
  for (size_t i = 0; i < 400; ++i) {
    double num[1] = {double(i)};
    StrRef cat[3];
    for (size_t c = 0; c < 3; ++c) {
      const std::string& t = (*columns[c])[i % columns[c]->size()];
      cat[c] = StrRef{t.data(), t.size(), false};
    }
    acc.add_row(num, cat);
  }
  const Model m = acc.finish();
  const std::vector<uint8_t> bytes = serialize(m);
  ModelView v(bytes.data(), bytes.size());
  const int D = m.encoded_dim();
  ASSERT_EQ(D, 1 + int(small.size() + medium.size() + large.size()));
  std::vector<double> scratch(static_cast<size_t>(D)), out(static_cast<size_t>(D));
  const std::vector<std::string> unseen = {"c", "abd", "abce", "abcdefgj", "abcdefgh*", "abcdefghijklmnoz",
                                           "abcdefghijklmnopr", "abcdefghijklmnopqr"};
  int first = 1;
  for (size_t c = 0; c < 3; ++c) {
    std::vector<std::string> sorted = *columns[c];
    std::sort(sorted.begin(), sorted.end());
    const auto encode = [&](const std::string& t) {
      double num[1] = {0};
      StrRef cat[3];
      cat[c] = StrRef{t.data(), t.size(), false};
      v.transform(num, cat, scratch.data(), out.data());
    };
    for (size_t at = 0; at < sorted.size(); ++at) {
      encode(sorted[at]);
      for (size_t l = 0; l < sorted.size(); ++l)
        EXPECT_EQ(out[size_t(first) + l], l == at ? 1.0 : 0.0) << "column " << c << " '" << sorted[at] << "' level " << l;
    }
    for (const std::string& t : unseen) {
      encode(t);
      for (size_t l = 0; l < sorted.size(); ++l) EXPECT_EQ(out[size_t(first) + l], 0.0) << "column " << c << " unseen '" << t << "'";
    }
    first += int(sorted.size());
  }
}

TEST(Model, UnseenAndNullLevelsEncodeAsZeros) {
  Model m = small_model(R"({"k": null, "n_components": null})");
  std::vector<uint8_t> bytes = serialize(m);
  ModelView v(bytes.data(), bytes.size());
  double num[2] = {0, 0};
  std::vector<double> scratch(5), a(5), b(5);
  StrRef unseen{"purple", 6, false}, null_level{};
  v.transform(num, &unseen, scratch.data(), a.data());
  v.transform(num, &null_level, scratch.data(), b.data());
  for (int j = 2; j < 5; ++j) {
    EXPECT_EQ(a[size_t(j)], 0);
    EXPECT_EQ(b[size_t(j)], 0);
  }
}

TEST(Model, EveryTruncationIsRejected) {
  std::vector<uint8_t> good = serialize(small_model());
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + long(len));
    try {
      ModelView(cut.data(), cut.size());
      ADD_FAILURE() << "accepted a prefix of " << len << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidBinary);
    }
  }
}

// Any single corrupted byte is either rejected with kInvalidBinary or yields a model that still
// validates and prints as text that reads back (so recv never stores a value that out, pg_dump or
// restore would refuse); it never reads outside the buffer (the sanitizer build checks that).
TEST(Model, CorruptedBytesNeverReadOutOfBounds) {
  const std::vector<uint8_t> good = serialize(small_model());
  const uint8_t masks[] = {0x01, 0x80, 0xff};
  int rejected = 0;
  for (size_t pos = 8; pos < good.size(); ++pos)
    for (uint8_t mask : masks) {
      std::vector<uint8_t> bad = good;
      bad[pos] ^= mask;
      try {
        Model m = deserialize(bad.data(), bad.size());
        EXPECT_NO_THROW(from_json_text(to_json_text(m))) << "byte " << pos;
        std::vector<uint8_t> again = serialize(m);
        ModelView v(again.data(), again.size());
        std::vector<double> scratch(static_cast<size_t>(v.encoded_dim())), out(static_cast<size_t>(v.output_dim()));
        double num[2] = {1, 2};
        StrRef cat{"red", 3, false};
        v.transform(num, &cat, scratch.data(), out.data());
        if (v.k() > 0) v.nearest(out.data());
      } catch (const Error& e) {
        ++rejected;
        EXPECT_EQ(e.code(), ErrorCode::kInvalidBinary) << "byte " << pos << ": " << e.what();
      }
    }
  EXPECT_GT(rejected, 0);
}

TEST(Model, BinaryWithOptionsThatAreNotJsonIsCorrupt) {
  std::vector<uint8_t> bytes = serialize(small_model());
  uint64_t off_options;  // the header's section offsets start 32 bytes in; options is the 14th
  std::memcpy(&off_options, bytes.data() + 8 + 32 + 13 * 8, sizeof off_options);
  ASSERT_EQ(bytes[off_options], '{');
  bytes[off_options] = '[';
  try {
    deserialize(bytes.data(), bytes.size());
    FAIL() << "accepted options that do not parse";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidBinary);
    EXPECT_NE(std::string(e.what()).find("options"), std::string::npos) << e.what();
  }
}

TEST(Model, MalformedJsonIsRejected) {
  const std::string text = to_json_text(small_model());
  for (size_t len = 0; len < text.size(); len += 5) {
    EXPECT_THROW(from_json_text(text.substr(0, len)), Error) << "prefix " << len;
  }
  EXPECT_THROW(from_json_text(R"({"format_version": 99})"), Error);
  EXPECT_THROW(from_json_text("[]"), Error);
}

}  // namespace
}  // namespace custseg::core
