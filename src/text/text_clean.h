// The text cleaning CLIP's tokenizer applies before BPE, as open_clip's SimpleTokenizer does it
// (open_clip/tokenizer.py: basic_clean, whitespace_clean, then lower()):
//   ftfy.fix_text -> html.unescape twice -> strip -> fold \s+ to ' ' -> strip -> lower
#pragma once
#include <string>
#include <string_view>

namespace sdpp::text {

// Python's html.unescape (HTML5 rules: named references with and without ';', numeric references
// with the standard's replacements for invalid code points).
std::u32string html_unescape(std::u32string_view s);

// The subset of ftfy.fix_text (ftfy 6.x, default TextFixerConfig) that prompts meet: HTML entities
// when the text has no '<', whole-string mojibake (UTF-8 read as Latin-1 / Windows-1252), C1
// controls, Latin ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes,
// control characters and NFC, repeated per line until nothing changes. Not covered: ftfy's
// 'badness' heuristic (a whole-string re-decode is applied only when it yields valid UTF-8),
// mojibake mixed with correct non-Latin-1 text, and the Windows-125x / MacRoman / cp437 guesses.
std::u32string ftfy_fix_text(std::u32string_view s);

// open_clip's full cleaning (above) of UTF-8 input; the result is what the pre-tokeniser sees.
std::u32string clip_clean_text(std::string_view utf8);

}  // namespace sdpp::text
