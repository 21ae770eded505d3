// A small strict JSON reader and writer for model text and options. Numbers are written in the
// shortest form that reads back to the same double, so model text round-trips bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace custseg::core::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

class Value {
 public:
  Value() = default;
  static Value null() { return Value(); }
  static Value boolean(bool b);
  static Value number(double d);
  static Value string(std::string s);
  static Value array();
  static Value object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }

  // Object lookup; nullptr when absent.
  const Value* find(const std::string& key) const;
  Value& push(Value v);
  Value& set(const std::string& key, Value v);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parses RFC 8259 text; throws Error(kInvalidText) naming the offset on malformed input. Nesting
// deeper than 64 levels and duplicate object keys are rejected.
Value parse(const char* text, size_t len);
inline Value parse(const std::string& s) { return parse(s.data(), s.size()); }

// Writes compact JSON. Non-finite numbers are written as null.
std::string write(const Value& v);
// The same with every number in std::to_chars' shortest form ("1e+05"), as custseg 0.2.0 wrote
// JSON: the options text of a 0.2.0 model is kept in this form, byte for byte.
std::string write_legacy(const Value& v);
void write_number(std::string& out, double d);
void write_string(std::string& out, const std::string& s);

}  // namespace custseg::core::json
