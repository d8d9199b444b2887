#include "sim/value_json.h"

namespace casulo::sim {

using formats::XmlRpcArray;
using formats::XmlRpcStruct;
using formats::XmlRpcValue;

Json ToJson(const XmlRpcValue& v, JsonFlavour flavour) {
  using T = XmlRpcValue::Type;
  const bool state = flavour == JsonFlavour::kState;
  switch (v.type()) {
    case T::kNil: return nullptr;
    case T::kString: return v.str();
    case T::kInt: return v.i();
    case T::kBool: return v.b();
    case T::kDouble: return v.d();
    case T::kDateTime:
      if (state) return Json{{"$datetime", v.date().text}};
      return v.date().text;
    case T::kBase64:
      if (state) return Json{{"$base64", v.base64().text}};
      return v.base64().text;
    case T::kArray: {
      Json a = Json::array();
      for (const auto& e : v.array()) a.push_back(ToJson(e, flavour));
      return a;
    }
    case T::kStruct: {
      Json o = Json::object();
      for (const auto& [k, m] : v.members()) o[k] = ToJson(m, flavour);
      return o;
    }
  }
  return nullptr;
}

XmlRpcValue FromJson(const Json& j, JsonFlavour flavour) {
  switch (j.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
    case Json::value_t::binary: return XmlRpcValue();
    case Json::value_t::string: return XmlRpcValue(j.get<std::string>());
    case Json::value_t::boolean: return XmlRpcValue(j.get<bool>());
    case Json::value_t::number_integer: return XmlRpcValue(j.get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= uint64_t(INT64_MAX)) return XmlRpcValue(int64_t(u));
      return XmlRpcValue(double(u));
    }
    case Json::value_t::number_float: return XmlRpcValue(j.get<double>());
    case Json::value_t::array: {
      XmlRpcArray a;
      for (const auto& e : j) a.push_back(FromJson(e, flavour));
      return XmlRpcValue(std::move(a));
    }
    case Json::value_t::object: {
      if (flavour == JsonFlavour::kState && j.size() == 1) {
        auto it = j.begin();
        if (it.key() == "$datetime" && it.value().is_string())
          return XmlRpcValue(XmlRpcValue::DateTime{it.value().get<std::string>()});
        if (it.key() == "$base64" && it.value().is_string())
          return XmlRpcValue(XmlRpcValue::Base64{it.value().get<std::string>()});
      }
      XmlRpcStruct s;
      for (auto it = j.begin(); it != j.end(); ++it)
        s.emplace_back(it.key(), FromJson(it.value(), flavour));
      return XmlRpcValue(std::move(s));
    }
  }
  return XmlRpcValue();
}

}  // namespace casulo::sim
