// The simulated pool's object database: for each class, ref -> record, plus
// a generation counter bumped by every mutation (the dispatcher saves the
// state when it moved; event.from will read per-object generations).
//
// Not thread-safe: the dispatcher serialises every call under one mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "core/status.h"
#include "sim/schema.h"
#include "sim/value_json.h"

namespace casulo::sim {

struct Object {
  XmlRpcValue record;  // a struct holding every field of the class schema
  uint64_t created = 0;   // generation of creation
  uint64_t modified = 0;  // generation of the last change
};

// A removed object, kept so event.from can report "del" to tokens older
// than the removal.
struct Tombstone {
  std::string cls, ref;
  uint64_t created = 0;
  uint64_t deleted = 0;  // generation of the removal
};

class Store {
 public:
  using Table = std::map<std::string, Object, std::less<>>;  // by ref

  Store();

  // Creates an object of `cls` (REQUIRES FindClass(cls)) from the class
  // defaults overridden by `fields`; "uuid" is generated unless given.
  // Returns the new ref, "OpaqueRef:<uuid>".
  std::string Create(std::string_view cls, XmlRpcStruct fields);
  const XmlRpcValue* Find(std::string_view cls, std::string_view ref) const;
  // Marks the object modified; nullptr when absent.
  XmlRpcValue* Mutate(std::string_view cls, std::string_view ref);
  bool Remove(std::string_view cls, std::string_view ref);
  std::optional<std::string> RefOfUuid(std::string_view cls, std::string_view uuid) const;
  const Table& Objects(std::string_view cls) const;  // empty table for unknown classes

  // Sets field `field` (a set of refs) of object cls/ref to also hold `item`.
  void AddToSet(std::string_view cls, std::string_view ref, std::string_view field,
                std::string item);
  void RemoveFromSet(std::string_view cls, std::string_view ref, std::string_view field,
                     std::string_view item);

  uint64_t generation() const { return generation_; }
  const std::map<std::string, Table, std::less<>>& tables() const { return tables_; }
  // Removals, oldest first; at most kMaxTombstones. Tokens older than
  // tombstone_floor() may have missed removals (event.from: EVENTS_LOST).
  const std::deque<Tombstone>& tombstones() const { return tombstones_; }
  uint64_t tombstone_floor() const { return tombstone_floor_; }
  static constexpr size_t kMaxTombstones = 4096;
  std::string NewUuid();

  // Simulator settings kept with the objects.
  std::string this_host = std::string(kNullRef);  // the host this endpoint plays

  // db.json layout: {"format": "casulo-sim-db", "version": 1, "generation": N,
  //   "this_host": ref, "objects": {class: {ref: record}}} (records in the
  // kState JSON flavour).
  Json ToJson() const;
  static Result<Store> FromJson(const Json& j);

 private:
  std::map<std::string, Table, std::less<>> tables_;
  uint64_t generation_ = 0;
  std::deque<Tombstone> tombstones_;
  uint64_t tombstone_floor_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace casulo::sim
