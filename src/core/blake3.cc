#include "core/blake3.h"

#include <blake3.h>

namespace casulo {

Hash256 Blake3(ByteSpan data) {
  blake3_hasher h;
  blake3_hasher_init(&h);
  blake3_hasher_update(&h, data.data(), data.size());
  Hash256 out;
  blake3_hasher_finalize(&h, out.b.data(), out.b.size());
  return out;
}

Hash256 Blake3Keyed(const std::array<uint8_t, 32>& key, ByteSpan data) {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, key.data());
  blake3_hasher_update(&h, data.data(), data.size());
  Hash256 out;
  blake3_hasher_finalize(&h, out.b.data(), out.b.size());
  return out;
}

std::array<uint8_t, 32> Blake3DeriveKey(std::string_view context, ByteSpan material) {
  blake3_hasher h;
  blake3_hasher_init_derive_key_raw(&h, context.data(), context.size());
  blake3_hasher_update(&h, material.data(), material.size());
  std::array<uint8_t, 32> out;
  blake3_hasher_finalize(&h, out.data(), out.size());
  return out;
}

struct Blake3Hasher::State {
  blake3_hasher h;
};

Blake3Hasher::Blake3Hasher() : state_(new State) { blake3_hasher_init(&state_->h); }
Blake3Hasher::~Blake3Hasher() { delete state_; }
void Blake3Hasher::Update(ByteSpan data) {
  blake3_hasher_update(&state_->h, data.data(), data.size());
}
Hash256 Blake3Hasher::Finalize() const {
  Hash256 out;
  blake3_hasher_finalize(&state_->h, out.b.data(), out.b.size());
  return out;
}

}  // namespace casulo
