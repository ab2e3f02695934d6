// HTML5 named character references (see html_entities.cpp), sorted by name (byte order).
#pragma once
#include <span>
#include <string_view>

namespace sdpp::text {

struct HtmlEntity {
    std::string_view name;   // without the leading '&'; with the trailing ';' where the table has it
    std::u32string_view value;
};

std::span<const HtmlEntity> html5_entities();

}  // namespace sdpp::text
