#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "errors.h"
#include "json.h"

namespace custseg::core {
namespace {

TEST(Json, ParsesEveryType) {
  json::Value v = json::parse(R"({"a": [1, -2.5e3, true, false, null], "b": "x\"\u00e9\n", "c": {}})");
  ASSERT_EQ(v.type(), json::Type::kObject);
  const json::Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items().size(), 5u);
  EXPECT_EQ(a->items()[0].as_number(), 1);
  EXPECT_EQ(a->items()[1].as_number(), -2500);
  EXPECT_TRUE(a->items()[2].as_bool());
  EXPECT_FALSE(a->items()[3].as_bool());
  EXPECT_TRUE(a->items()[4].is_null());
  EXPECT_EQ(v.find("b")->as_string(), "x\"\xc3\xa9\n");
  EXPECT_EQ(v.find("c")->type(), json::Type::kObject);
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(Json, NumbersRoundTripBitForBit) {
  const double values[] = {0.1, 1.0 / 3.0, -1e-310, 1.7976931348623157e308, 5e-324, 123456789012345678.0,
                           -0.0, 2.5, 1e22, 0.30000000000000004};
  for (double d : values) {
    std::string s;
    json::write_number(s, d);
    json::Value back = json::parse(s);
    EXPECT_EQ(std::signbit(back.as_number()), std::signbit(d)) << s;
    EXPECT_EQ(back.as_number(), d) << s;
  }
}

TEST(Json, NonFiniteIsWrittenAsNull) {
  std::string s;
  json::write_number(s, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(s, "null");
}

TEST(Json, WriteThenParseIsIdentity) {
  json::Value o = json::Value::object();
  o.set("name", json::Value::string("caf\xc3\xa9 \"quoted\" \\ \t"));
  json::Value arr = json::Value::array();
  arr.push(json::Value::number(1.25));
  arr.push(json::Value::boolean(true));
  arr.push(json::Value::null());
  o.set("list", arr);
  const std::string text = json::write(o);
  EXPECT_EQ(json::write(json::parse(text)), text);
}

TEST(Json, RejectsMalformedText) {
  const char* bad[] = {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "tru", "\"unterminated", "{\"a\" 1}",
                       "[1] 2", "\"\\x\"", "{\"a\":1,\"a\":2}", "nan", "\"\x01\""};
  for (const char* t : bad) {
    try {
      json::parse(t);
      ADD_FAILURE() << "accepted: " << t;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidText) << t;
    }
  }
}

TEST(Json, RejectsDeepNesting) {
  std::string deep(65, '[');
  deep += std::string(65, ']');
  EXPECT_THROW(json::parse(deep), Error);
  std::string ok(64, '[');
  ok += std::string(64, ']');
  EXPECT_NO_THROW(json::parse(ok));
}

}  // namespace
}  // namespace custseg::core
