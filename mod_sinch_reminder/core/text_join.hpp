#pragma once
// joined(): a list written out with a separator ("a, b, c"), for messages, logs and stored key lists.
#include <string>

namespace sr {

template <typename Strings>
std::string joined(const Strings& items, const std::string& separator = ", ") {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

}  // namespace sr
