// Regression tests for what fuzzing the model readers found (test/fuzz): every binary value the
// reader accepts can be written as text, read back bit for bit and scored without reading out of
// bounds; everything else is an invalid-binary error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"
#include "model.h"

namespace custseg::core {
namespace {

// Two numeric features, no PCA, two centroids.
Model tiny_model() {
  Model m;
  m.features = {Feature{"feat_a", Kind::kNumeric, 1.0, {}}, Feature{"feat_b", Kind::kNumeric, 2.0, {}}};
  m.mean = {0, 0};
  m.scale = {1, 1};
  m.k = 2;
  m.centroids = {0, 0, 10, 10};
  m.segment_ids = {4, 7};
  m.options_json = R"({"k": 2})";
  return m;
}

// Replaces the first occurrence of `from` in the bytes by `to` (same length).
void patch(std::vector<uint8_t>& bytes, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  auto it = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  ASSERT_NE(it, bytes.end());
  std::memcpy(&*it, to.data(), to.size());
}

ErrorCode reader_error(const std::vector<uint8_t>& bytes) {
  try {
    deserialize(bytes.data(), bytes.size());
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "the reader accepted the value";
  return ErrorCode::kInternal;
}

TEST(ModelReader, OptionsThatAreNotAJsonObjectAreCorrupt) {
  // Found by fuzz_model_binary: such a value was accepted, then could not be written as text.
  Model m = tiny_model();
  m.options_json = "{\"k\": 2";
  EXPECT_EQ(reader_error(serialize(m)), ErrorCode::kInvalidBinary);
  m.options_json = "[1]";
  EXPECT_EQ(reader_error(serialize(m)), ErrorCode::kInvalidBinary);
}

TEST(ModelReader, OptionsAreKeptInCanonicalForm) {
  Model m = tiny_model();
  m.options_json = R"({"k":2,  "seed" :1})";
  Model back = deserialize(serialize(m).data(), serialize(m).size());
  EXPECT_EQ(back.options_json, R"({"k": 2, "seed": 1})");
  EXPECT_EQ(serialize(from_json_text(to_json_text(back))), serialize(back));
}

// Empty options bytes read as the empty object, so the text form round-trips (found by the fuzzer).
TEST(ModelReader, EmptyOptionsReadAsTheEmptyObject) {
  Model m = tiny_model();
  m.options_json = "";
  Model back = deserialize(serialize(m).data(), serialize(m).size());
  EXPECT_EQ(back.options_json, "{}");
  EXPECT_EQ(serialize(from_json_text(to_json_text(back))), serialize(back));
}

TEST(ModelReader, AnInconsistentModelIsInvalidBinaryNotInvalidArgument) {
  // Found by fuzz_model_binary: the model's own checks raised 22023 from recv instead of 22P03.
  std::vector<uint8_t> bytes = serialize(tiny_model());
  patch(bytes, "feat_b", "feat_a");  // duplicate feature names
  EXPECT_EQ(reader_error(bytes), ErrorCode::kInvalidBinary);
}

TEST(ModelReader, AFeatureNameWithANulByteIsCorrupt) {
  // Found by fuzz_model_binary: accepted in binary, written as \u0000, which the text reader refuses.
  std::vector<uint8_t> bytes = serialize(tiny_model());
  patch(bytes, "feat_b", std::string("feat\0b", 6));
  EXPECT_EQ(reader_error(bytes), ErrorCode::kInvalidBinary);
}

TEST(ModelReader, TrainingMetricsAreNumbersOrTheCanonicalNaN) {
  Model m = tiny_model();
  m.info.inertia = std::numeric_limits<double>::infinity();
  EXPECT_EQ(reader_error(serialize(m)), ErrorCode::kInvalidBinary);
  m.info.inertia = -std::numeric_limits<double>::quiet_NaN();  // another NaN bit pattern
  std::vector<uint8_t> bytes = serialize(m);
  Model back = deserialize(bytes.data(), bytes.size());
  const double canonical = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(std::memcmp(&back.info.inertia, &canonical, sizeof canonical), 0);
  EXPECT_EQ(serialize(from_json_text(to_json_text(back))), serialize(back));
}

TEST(ModelReader, NearestSurvivesOverflowingDistances) {
  // Found by fuzz_model_binary: when every squared distance overflowed to infinity no centroid was
  // chosen and the segment number was read from index -1. A row far beyond the training data does it.
  Model m = tiny_model();
  m.centroids = {0, 0, 1e300, 1e300};
  std::vector<uint8_t> bytes = serialize(m);
  ModelView v(bytes.data(), bytes.size());
  const double far[2] = {2e300, 2e300};  // squared distances 8e600 and 2e600
  Score s = v.nearest(far);
  EXPECT_EQ(s.index, 1);
  EXPECT_EQ(s.segment, 7);
  EXPECT_EQ(s.runner_up_index, 0);
  EXPECT_NEAR(s.distance / (std::sqrt(2.0) * 1e300), 1.0, 1e-12);
  EXPECT_NEAR(s.runner_up / (std::sqrt(8.0) * 1e300), 1.0, 1e-12);
  const double near_first[2] = {-1e300, -1e300};  // squared distances 2e600 and 8e600
  EXPECT_EQ(v.nearest(near_first).segment, 4);
}

TEST(ModelReader, NearestOfNonFiniteCoordinatesIsOutOfRange) {
  std::vector<uint8_t> bytes = serialize(tiny_model());
  ModelView v(bytes.data(), bytes.size());
  const double nan[2] = {std::numeric_limits<double>::quiet_NaN(), 0};
  try {
    v.nearest(nan);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
}

}  // namespace
}  // namespace custseg::core
