// Text cleaning beyond the fixture cases: the ftfy 6.x fixes (ftfy/__init__.py fix_text,
// ftfy/fixes.py) and Python's html.unescape / str.lower semantics the tokenizer depends on.
#include "text/text_clean.h"
#include "text/unicode.h"

#include <gtest/gtest.h>

using namespace sdpp::text;

namespace {
std::string clean(const std::string& s) { return utf8_encode(clip_clean_text(s)); }
std::string unescape(const std::string& s) { return utf8_encode(html_unescape(utf8_decode(s))); }
}  // namespace

TEST(TextClean, HtmlUnescapeFollowsPython) {
    EXPECT_EQ(unescape("&amp; &lt;3 &#39;x&#x27; &#X41;"), "& <3 'x' A");
    EXPECT_EQ(unescape("&ampx &notit; &copy2024"), "&x ¬it; ©2024");  // legacy names without ';'
    EXPECT_EQ(unescape("&#0; &#128; &#x110000; &#1;"), "\uFFFD \u20AC \uFFFD ");
    EXPECT_EQ(unescape("&nosuch; & &#; &#xZ;"), "&nosuch; & &#; &#xZ;");
}

TEST(TextClean, FtfyFixes) {
    EXPECT_EQ(clean("&NTILDE;"), "ñ");                      // ftfy's all-caps entities
    EXPECT_EQ(clean("<b>&amp;amp;</b>"), "<b>&</b>");       // '<': ftfy leaves entities, html.unescape x2 does not
    EXPECT_EQ(clean("caf\u0065\u0301"), "café");            // NFC
    EXPECT_EQ(clean("\uFEFFhello\u200B"), "hello\u200B");   // BOM removed, zero-width space kept
    EXPECT_EQ(clean("a\u2028b\u3000c"), "a b c");           // line separator, ideographic space
    EXPECT_EQ(clean("wait\u0085"), "wait…");                // C1 control read as Windows-1252
    EXPECT_EQ(clean("ÃƒÂ©tÃƒÂ©"), "été");                   // two layers of mojibake
    EXPECT_EQ(clean("IRMÃ É"), "irmã é");                   // legitimate Latin-1 text stays
    EXPECT_EQ(clean("ﬅ ﬀ Ĳ"), "ſt ff ij");                  // ftfy's ligature table, not NFKC
    EXPECT_EQ(clean("ｶﾀｶﾅ ＠"), "カタカナ @");               // half-width katakana, full-width forms
    EXPECT_EQ(clean("\x1b[1;31mred\x1b[0m\x07"), "red");    // terminal escapes, control characters
    EXPECT_EQ(clean("ʼquoteʼ ‛x‟"), "'quote' 'x\"");
}

TEST(TextClean, LowerAndWhitespaceLikePython) {
    EXPECT_EQ(clean("ΣΑΣ ΌΣΟΣ"), "σας όσος");               // final sigma
    EXPECT_EQ(clean("İ"), "i\u0307");                       // full lower-case mapping
    EXPECT_EQ(clean("\x1c a \x1f\t\n b \u00A0"), "a b");    // str.isspace includes U+001C..U+001F
    EXPECT_EQ(utf8_encode(utf8_decode("\xff" "a\xe2\x82")), "\uFFFD" "a\uFFFD\uFFFD");
}
