# BLAKE3 from the official C implementation that Debian ships inside
# librust-blake3-dev (bookworm has no libblake3 package). We compile it from
# its installed location; nothing of it is copied into this repository.
set(BLAKE3_C_DIR "" CACHE PATH "Directory with blake3.c and its x86-64 assembly")
if(NOT BLAKE3_C_DIR)
  file(GLOB _b3 LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
  list(SORT _b3)
  list(REVERSE _b3)
  list(GET _b3 0 BLAKE3_C_DIR)
endif()
if(NOT EXISTS "${BLAKE3_C_DIR}/blake3.h")
  message(FATAL_ERROR "BLAKE3 C sources not found (install librust-blake3-dev or set BLAKE3_C_DIR)")
endif()
message(STATUS "BLAKE3 from ${BLAKE3_C_DIR}")
add_library(blake3 STATIC
  ${BLAKE3_C_DIR}/blake3.c
  ${BLAKE3_C_DIR}/blake3_dispatch.c
  ${BLAKE3_C_DIR}/blake3_portable.c
  ${BLAKE3_C_DIR}/blake3_sse2_x86-64_unix.S
  ${BLAKE3_C_DIR}/blake3_sse41_x86-64_unix.S
  ${BLAKE3_C_DIR}/blake3_avx2_x86-64_unix.S
  ${BLAKE3_C_DIR}/blake3_avx512_x86-64_unix.S)
target_include_directories(blake3 SYSTEM PUBLIC ${BLAKE3_C_DIR})
target_compile_options(blake3 PRIVATE -w -O3)
set_target_properties(blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
