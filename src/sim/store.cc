#include "sim/store.h"

#include <fmt/format.h>

namespace casulo::sim {

Store::Store() : rng_(std::random_device{}()) {}

std::string Store::NewUuid() {
  uint64_t hi = rng_(), lo = rng_();
  hi = (hi & ~0xF000ull) | 0x4000ull;                // version 4
  lo = (lo & ~(3ull << 62)) | (2ull << 62);          // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFull);
}

std::string Store::Create(std::string_view cls, XmlRpcStruct fields) {
  const ClassSchema* schema = FindClass(cls);
  assert(schema != nullptr);
  XmlRpcValue record(schema->defaults);
  for (auto& [k, v] : fields) record.Set(k, std::move(v));
  const XmlRpcValue* uuid = record.Find("uuid");
  if (uuid == nullptr || !uuid->is_string() || uuid->str().empty()) record.Set("uuid", NewUuid());
  std::string ref = "OpaqueRef:" + NewUuid();
  ++generation_;
  tables_[std::string(cls)][ref] = Object{std::move(record), generation_, generation_};
  return ref;
}

const XmlRpcValue* Store::Find(std::string_view cls, std::string_view ref) const {
  auto t = tables_.find(cls);
  if (t == tables_.end()) return nullptr;
  auto o = t->second.find(ref);
  return o == t->second.end() ? nullptr : &o->second.record;
}

XmlRpcValue* Store::Mutate(std::string_view cls, std::string_view ref) {
  auto t = tables_.find(cls);
  if (t == tables_.end()) return nullptr;
  auto o = t->second.find(ref);
  if (o == t->second.end()) return nullptr;
  o->second.modified = ++generation_;
  return &o->second.record;
}

bool Store::Remove(std::string_view cls, std::string_view ref) {
  auto t = tables_.find(cls);
  if (t == tables_.end()) return false;
  auto o = t->second.find(ref);
  if (o == t->second.end()) return false;
  uint64_t created = o->second.created;
  t->second.erase(o);
  ++generation_;
  tombstones_.push_back({std::string(cls), std::string(ref), created, generation_});
  if (tombstones_.size() > kMaxTombstones) {
    tombstone_floor_ = tombstones_.front().deleted;
    tombstones_.pop_front();
  }
  return true;
}

std::optional<std::string> Store::RefOfUuid(std::string_view cls, std::string_view uuid) const {
  for (const auto& [ref, obj] : Objects(cls)) {
    const XmlRpcValue* u = obj.record.Find("uuid");
    if (u != nullptr && u->is_string() && u->str() == uuid) return ref;
  }
  return std::nullopt;
}

const Store::Table& Store::Objects(std::string_view cls) const {
  static const Table kEmpty;
  auto t = tables_.find(cls);
  return t == tables_.end() ? kEmpty : t->second;
}

void Store::AddToSet(std::string_view cls, std::string_view ref, std::string_view field,
                     std::string item) {
  XmlRpcValue* r = Mutate(cls, ref);
  if (r == nullptr) return;
  const XmlRpcValue* cur = r->Find(field);
  XmlRpcArray a = cur != nullptr && cur->is_array() ? cur->array() : XmlRpcArray{};
  for (const auto& e : a)
    if (e.is_string() && e.str() == item) return;
  a.emplace_back(std::move(item));
  r->Set(std::string(field), std::move(a));
}

void Store::RemoveFromSet(std::string_view cls, std::string_view ref, std::string_view field,
                          std::string_view item) {
  XmlRpcValue* r = Mutate(cls, ref);
  if (r == nullptr) return;
  const XmlRpcValue* cur = r->Find(field);
  if (cur == nullptr || !cur->is_array()) return;
  XmlRpcArray a;
  for (const auto& e : cur->array())
    if (!(e.is_string() && e.str() == item)) a.push_back(e);
  r->Set(std::string(field), std::move(a));
}

Json Store::ToJson() const {
  Json objects = Json::object();
  for (const auto& [cls, table] : tables_) {
    Json t = Json::object();
    for (const auto& [ref, obj] : table) t[ref] = sim::ToJson(obj.record, JsonFlavour::kState);
    objects[cls] = std::move(t);
  }
  return Json{{"format", "casulo-sim-db"}, {"version", 1}, {"generation", generation_},
              {"this_host", this_host}, {"objects", std::move(objects)}};
}

Result<Store> Store::FromJson(const Json& j) {
  if (!j.is_object() || j.value("format", "") != "casulo-sim-db" || j.value("version", 0) != 1)
    return Error(Code::kUnsupported, "not a casulo-sim db (format casulo-sim-db, version 1)");
  Store s;
  // Generations per object are not saved: every loaded object counts as
  // created at the loaded generation (so event.from("") reports it as "add"),
  // and removals before the restart are forgotten (tokens older than that
  // get EVENTS_LOST, as after a XAPI restart).
  s.generation_ = j.value("generation", uint64_t{0}) + 1;
  s.tombstone_floor_ = s.generation_;
  s.this_host = j.value("this_host", std::string(kNullRef));
  const Json& objects = j.contains("objects") ? j["objects"] : Json::object();
  if (!objects.is_object()) return Error(Code::kCorruption, "db.json: objects is not an object");
  for (auto t = objects.begin(); t != objects.end(); ++t) {
    if (FindClass(t.key()) == nullptr)
      return Error(Code::kCorruption, "db.json: unknown class '{}'", t.key());
    if (!t.value().is_object()) return Error(Code::kCorruption, "db.json: bad table {}", t.key());
    for (auto o = t.value().begin(); o != t.value().end(); ++o) {
      XmlRpcValue rec = sim::FromJson(o.value(), JsonFlavour::kState);
      if (!rec.is_struct())
        return Error(Code::kCorruption, "db.json: {} {} is not a record", t.key(), o.key());
      s.tables_[t.key()][o.key()] = Object{std::move(rec), s.generation_, s.generation_};
    }
  }
  return s;
}

}  // namespace casulo::sim
