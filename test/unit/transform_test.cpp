// Per-column transforms: the option parser, the model's format 2 (binary and text round trips, the
// reader's checks), scoring that replays the transform, and format 1 models of 0.2.0 unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"
#include "model.h"
#include "options.h"
#include "transform.h"

namespace custseg::core {
namespace {

Model transformed_model() {
  Model m;
  Feature a{"spend", Kind::kNumeric, 2.5, {}};
  a.transform.flags = Transform::kLog1p | Transform::kClip;
  a.transform.lo = 0;
  a.transform.hi = 100;
  Feature b{"age", Kind::kNumeric, 40, {}};
  Feature c{"visits", Kind::kNumeric, 1.0, {}};
  c.transform.flags = Transform::kLog1p;
  Feature g{"gender", Kind::kCategorical, 0, {"F", "M"}};
  m.features = {a, b, c, g};
  m.mean = {2, 40, 1, 0, 0};
  m.scale = {0.5, 10, 2, 1, 1};
  m.k = 2;
  m.centroids = {0, 0, 0, 1, 0, 1, 1, 1, 0, 1};
  m.segment_ids = {0, 1};
  m.options_json = json::write(json::parse(R"({"k": 2})"));
  return m;
}

std::vector<uint8_t> aligned_copy(const std::vector<uint8_t>& b, std::vector<double>& store) {
  store.assign((b.size() + 7) / 8, 0);
  std::memcpy(store.data(), b.data(), b.size());
  return b;
}

TEST(Transform, OptionParsing) {
  FitOptions o = parse_fit_options(
      R"({"transform": {"a": "log1p", "b": {"clip": [1, 5]}, "c": {"clip_quantiles": [0.01, 0.99], "log1p": true}}})");
  ASSERT_EQ(o.transforms.size(), 3u);
  EXPECT_EQ(o.transforms[0].t.flags, Transform::kLog1p);
  EXPECT_EQ(o.transforms[1].t.flags, Transform::kClip);
  EXPECT_EQ(o.transforms[1].t.hi, 5);
  EXPECT_TRUE(o.transforms[2].quantiles);
  EXPECT_EQ(o.transforms[2].q_hi, 0.99);
  for (const char* bad : {R"({"transform": 1})", R"({"transform": {"a": "sqrt"}})", R"({"transform": {"a": {}}})",
                          R"({"transform": {"a": {"clip": [2, 1]}}})", R"({"transform": {"a": {"clip": [1]}}})",
                          R"({"transform": {"a": {"clip_quantiles": [0, 1.5]}}})", R"({"transform": {"a": {"x": 1}}})"})
    EXPECT_THROW(parse_fit_options(bad), Error) << bad;
  // Resolution against the features: unresolved quantiles, categorical or unknown columns fail.
  EXPECT_THROW(resolve_transforms(o.transforms, {"a", "b", "c"}, 3), Error);
  o.transforms[2].t.flags |= Transform::kClip;
  std::vector<Transform> t = resolve_transforms(o.transforms, {"b", "z", "a", "c"}, 4);
  EXPECT_EQ(t[0].flags, Transform::kClip);
  EXPECT_FALSE(t[1].any());
  EXPECT_EQ(t[2].flags, Transform::kLog1p);
  EXPECT_THROW(resolve_transforms(o.transforms, {"b", "a", "c"}, 2), Error);  // c categorical
  EXPECT_THROW(resolve_transforms(o.transforms, {"b", "c"}, 2), Error);       // a missing
}

TEST(Transform, Apply) {
  Transform t;
  t.flags = Transform::kLog1p | Transform::kClip;
  t.lo = 0;
  t.hi = 100;
  double x = 1e6;
  ASSERT_TRUE(t.apply(x));
  EXPECT_DOUBLE_EQ(x, std::log1p(100.0));
  x = -5;
  ASSERT_TRUE(t.apply(x));
  EXPECT_EQ(x, 0.0);
  Transform l;
  l.flags = Transform::kLog1p;
  x = -1;
  EXPECT_FALSE(l.apply(x));
}

TEST(Transform, FormatTwoRoundTripsAndScores) {
  Model m = transformed_model();
  EXPECT_EQ(m.format_version(), 2);
  std::vector<uint8_t> b = serialize(m);
  std::vector<double> store;
  aligned_copy(b, store);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(store.data());
  Model back = deserialize(p, b.size());
  EXPECT_EQ(serialize(back), b);
  EXPECT_TRUE(back.features[0].transform == m.features[0].transform);
  EXPECT_TRUE(back.features[2].transform == m.features[2].transform);
  EXPECT_FALSE(back.features[1].transform.any());
  const std::string text = to_json_text(m);
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos);
  EXPECT_EQ(to_json_text(from_json_text(text)), text);
  EXPECT_EQ(serialize(from_json_text(text)), b);

  // Scoring: clip then log1p, NULL takes the (transformed) imputation value.
  ModelView v(p, b.size());
  double num[3] = {1e6, 50, std::numeric_limits<double>::quiet_NaN()};
  StrRef cat[1] = {StrRef{"M", 1, false}};
  double scratch[5], out[5];
  v.transform(num, cat, scratch, out);
  EXPECT_DOUBLE_EQ(out[0], (std::log1p(100.0) - 2) / 0.5);
  EXPECT_DOUBLE_EQ(out[1], (50 - 40) / 10.0);
  EXPECT_DOUBLE_EQ(out[2], 0.0);
  EXPECT_EQ(out[4], 1.0);
  double neg[3] = {1, 1, -3};
  try {
    v.transform(neg, cat, scratch, out);
    FAIL() << "log1p of -3 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("\"visits\""), std::string::npos);
  }
}

TEST(Transform, ReaderRejectsBadTransforms) {
  Model m = transformed_model();
  std::vector<uint8_t> b = serialize(m);
  // (flags, lo, hi) per numeric feature, then the method section's head of 9 doubles ends the buffer.
  const size_t sec = b.size() - 3 * 8 * 3 - 9 * 8;
  auto corrupted = [&](size_t at, double v) {
    std::vector<uint8_t> c = b;
    std::memcpy(c.data() + at, &v, sizeof v);
    std::vector<double> store;
    aligned_copy(c, store);
    try {
      ModelView(reinterpret_cast<const uint8_t*>(store.data()), c.size());
    } catch (const Error& e) {
      return e.code() == ErrorCode::kInvalidBinary;
    }
    return false;
  };
  EXPECT_TRUE(corrupted(sec, 7));                                        // unknown flags
  EXPECT_TRUE(corrupted(sec, 0.5));                                      // not an integer
  EXPECT_TRUE(corrupted(sec + 8, 200));                                  // lo > hi
  EXPECT_TRUE(corrupted(sec + 8, -1));                                   // log1p below -1
  EXPECT_TRUE(corrupted(sec + 16, std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(corrupted(sec + 3 * 8 + 8, 1));                            // bounds without clip
  // Every transform removed: format 2 without a transform is not canonical.
  {
    std::vector<uint8_t> c = b;
    const double z = 0;
    for (int j = 0; j < 3; ++j)
      for (int f = 0; f < 3; ++f) std::memcpy(c.data() + sec + size_t(j * 24 + f * 8), &z, 8);
    std::vector<double> store;
    aligned_copy(c, store);
    EXPECT_THROW(ModelView(reinterpret_cast<const uint8_t*>(store.data()), c.size()), Error);
  }
  // A truncated section.
  {
    std::vector<uint8_t> c(b.begin(), b.end() - 8);
    std::vector<double> store;
    aligned_copy(c, store);
    EXPECT_THROW(ModelView(reinterpret_cast<const uint8_t*>(store.data()), c.size()), Error);
  }
  // The text form refuses a transform in format 1 and non-canonical transforms.
  std::string t = to_json_text(m);
  std::string v1 = t;
  v1.replace(v1.find("\"version\": 2"), 12, "\"version\": 1");
  EXPECT_THROW(from_json_text(v1), Error);
  std::string nolog = t;
  nolog.replace(nolog.find("\"log1p\": true"), 13, "\"log1p\": false");
  EXPECT_THROW(from_json_text(nolog), Error);
}

// Every model of the fuzz seed corpus reads and writes back byte for byte in its own format: the
// format 1 ones, written by 0.2.0, stay format 1.
TEST(Transform, FormatOneModelsUnchanged) {
  const std::string dir = std::string(CUSTSEG_SOURCE_DIR) + "/test/fuzz/corpus/model_binary";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  int checked = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 5 || name.compare(name.size() - 4, 4, ".bin") != 0 || name.rfind("bad-", 0) == 0 ||
        name.rfind("found-", 0) == 0)
      continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The corpus holds what custseg_model_send wrote: the value without the 8 reserved bytes.
    std::vector<uint8_t> b(8, 0);
    b.insert(b.end(), raw.begin(), raw.end());
    std::vector<double> store;
    aligned_copy(b, store);
    Model m = deserialize(reinterpret_cast<const uint8_t*>(store.data()), b.size());
    const int version = raw[4] | raw[5] << 8;  // the header's format version
    EXPECT_EQ(m.format_version(), version) << name;
    std::vector<uint8_t> again = serialize(m);
    EXPECT_TRUE(std::equal(again.begin() + 8, again.end(), b.begin() + 8) && again.size() == b.size()) << name;
    EXPECT_EQ(to_json_text(from_json_text(to_json_text(m))), to_json_text(m)) << name;
    EXPECT_NE(to_json_text(m).find("\"version\": " + std::to_string(version)), std::string::npos) << name;
    // A dump of 0.2.0 (the text form it wrote, numbers as "1e+05") restores to the very same bytes.
    std::ifstream tin(std::string(CUSTSEG_SOURCE_DIR) + "/test/fuzz/corpus/model_text/" +
                      name.substr(0, name.size() - 4) + ".json");
    if (tin) {
      const std::string text((std::istreambuf_iterator<char>(tin)), std::istreambuf_iterator<char>());
      std::vector<uint8_t> restored = serialize(from_json_text(text));
      EXPECT_TRUE(restored.size() == b.size() && std::equal(restored.begin() + 8, restored.end(), b.begin() + 8))
          << name << ": the text form restores other bytes";
    }
    checked += version == 1;
  }
  closedir(d);
  EXPECT_GE(checked, 5);
}

}  // namespace
}  // namespace custseg::core
