// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp, run with scripts/fuzz) and the corpus replay
// tests of the default build (replay_main.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

// A property every input must keep. Unlike assert() it also holds in release builds; libFuzzer saves the
// input that broke it as a crash.
#define SR_FUZZ_CHECK(condition)                                                                       \
    do {                                                                                               \
        if (!(condition)) {                                                                            \
            std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                              \
        }                                                                                              \
    } while (0)

namespace sr::fuzz {

// Splits the input into pieces at a separator byte sequence that text rarely contains, so seeds stay
// readable: "body\x1f\x1fnonce\x1f\x1ftimestamp" -> {"body", "nonce", "timestamp"}. Missing pieces are "".
inline std::string piece(const std::uint8_t* data, std::size_t size, std::size_t index) {
    const std::string all(reinterpret_cast<const char*>(data), size);
    static const std::string separator = "\x1f\x1f";
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) {
        const std::size_t next = all.find(separator, start);
        if (next == std::string::npos) return "";
        start = next + separator.size();
    }
    const std::size_t end = all.find(separator, start);
    return all.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace sr::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
