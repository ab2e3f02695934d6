// A1111 prompt syntax and chunking, mirroring stable-diffusion-webui:
//   modules/prompt_parser.py  re_attention, re_break, parse_prompt_attention
//   modules/sd_hijack_clip.py FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line (next_chunk,
//                             comma_padding_backtrack, embeddings), process_tokens (id_pad after
//                             the first end)
// The regexes are evaluated by hand over code points with Python's \s, \d and \w classes.
#include "text/prompt_parser.h"

#include "core/error.h"
#include "text/embeddings.h"
#include "text/unicode.h"

#include <cstdlib>
#include <optional>

namespace sdpp::text {
namespace {

struct Fragment {
    std::u32string text;
    double weight;
};

// re_break = r"\s*\bBREAK\b\s*": the leftmost match at or after `from`, as [begin, end).
bool find_break(std::u32string_view s, size_t from, size_t& begin, size_t& end) {
    static constexpr std::u32string_view kBreak = U"BREAK";
    for (size_t p = from; p < s.size(); ++p) {
        size_t q = p;
        while (q < s.size() && is_py_space(s[q])) ++q;  // \s* (greedy; BREAK cannot start with a space)
        if (s.compare(q, kBreak.size(), kBreak) != 0) continue;
        if (q > 0 && is_py_word(s[q - 1])) continue;  // \b before 'B'
        size_t e = q + kBreak.size();
        if (e < s.size() && is_py_word(s[e])) continue;  // \b after 'K'
        while (e < s.size() && is_py_space(s[e])) ++e;
        begin = p;
        end = e;
        return true;
    }
    return false;
}

// The "anything else" branch: text split at BREAK, a (BREAK, -1) marker between the parts.
void append_text(std::vector<Fragment>& res, std::u32string_view text) {
    size_t cursor = 0, b = 0, e = 0;
    while (find_break(text, cursor, b, e)) {
        res.push_back({std::u32string(text.substr(cursor, b - cursor)), 1.0});
        res.push_back({U"BREAK", -1.0});
        cursor = e;
    }
    res.push_back({std::u32string(text.substr(cursor)), 1.0});
}

// Python float() of the "[+-]?[.\d]+" group (Unicode digits allowed); nullopt when it raises.
std::optional<double> parse_weight(std::u32string_view w) {
    std::string ascii;
    int dots = 0, digits = 0;
    for (char32_t c : w) {
        if (c == '+' || c == '-') ascii.push_back(char(c));
        else if (c == '.') ascii.push_back('.'), ++dots;
        else ascii.push_back(char('0' + decimal_digit(c))), ++digits;
    }
    if (dots > 1 || digits == 0) return std::nullopt;
    return std::strtod(ascii.c_str(), nullptr);
}

// Alternative 9 of re_attention at s[i] == ':' : r":\s*([+-]?[.\d]+)\s*\)". Returns the end of
// the match (0 if none) and the weight group.
size_t match_weight(std::u32string_view s, size_t i, std::u32string_view& group) {
    size_t j = i + 1;
    while (j < s.size() && is_py_space(s[j])) ++j;
    size_t g = j;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    size_t d = j;
    while (j < s.size() && (s[j] == '.' || decimal_digit(s[j]) >= 0)) ++j;
    if (j == d) return 0;
    group = s.substr(g, j - g);
    while (j < s.size() && is_py_space(s[j])) ++j;
    if (j >= s.size() || s[j] != ')') return 0;
    return j + 1;
}

bool is_special(char32_t c) { return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':'; }

}  // namespace

std::vector<WeightedText> parse_prompt_attention(std::string_view prompt) {
    const std::u32string s = utf8_decode(prompt);
    std::vector<Fragment> res;
    std::vector<size_t> round, square;
    const double round_mult = 1.1, square_mult = 1 / 1.1;
    auto multiply_range = [&](size_t start, double m) {
        for (size_t p = start; p < res.size(); ++p) res[p].weight *= m;
    };
    size_t i = 0;
    while (i < s.size()) {
        const char32_t c = s[i];
        if (c == '\\') {  // \( \) \[ \] \\ -> the literal character; a lone backslash -> ""
            bool esc = i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' || s[i + 1] == ']' ||
                                            s[i + 1] == '\\');
            res.push_back({esc ? std::u32string(1, s[i + 1]) : std::u32string(), 1.0});
            i += esc ? 2 : 1;
        } else if (c == '(') {
            round.push_back(res.size());
            ++i;
        } else if (c == '[') {
            square.push_back(res.size());
            ++i;
        } else if (c == ':') {
            std::u32string_view group;
            size_t end = match_weight(s, i, group);
            std::optional<double> w = end ? parse_weight(group) : std::nullopt;
            if (end && w && !round.empty()) {  // (text:1.3)
                multiply_range(round.back(), *w);
                round.pop_back();
                i = end;
            } else if (end) {  // ":1.3)" with no '(' open (or a number Python cannot read): text
                append_text(res, std::u32string_view(s).substr(i, end - i));
                i = end;
            } else {
                append_text(res, U":");
                ++i;
            }
        } else if (c == ')' && !round.empty()) {
            multiply_range(round.back(), round_mult);
            round.pop_back();
            ++i;
        } else if (c == ']' && !square.empty()) {
            multiply_range(square.back(), square_mult);
            square.pop_back();
            ++i;
        } else if (c == ')' || c == ']') {  // unbalanced closer: literal text
            append_text(res, std::u32string(1, c));
            ++i;
        } else {
            size_t j = i;
            while (j < s.size() && !is_special(s[j])) ++j;
            append_text(res, std::u32string_view(s).substr(i, j - i));
            i = j;
        }
    }
    // Brackets left open apply to everything after them.
    for (size_t pos : round) multiply_range(pos, round_mult);
    for (size_t pos : square) multiply_range(pos, square_mult);
    if (res.empty()) res.push_back({U"", 1.0});
    // Merge runs of identical weights.
    for (size_t k = 0; k + 1 < res.size();) {
        if (res[k].weight == res[k + 1].weight) {
            res[k].text += res[k + 1].text;
            res.erase(res.begin() + std::ptrdiff_t(k + 1));
        } else {
            ++k;
        }
    }
    std::vector<WeightedText> out;
    out.reserve(res.size());
    for (const Fragment& f : res) out.push_back({utf8_encode(f.text), f.weight});
    return out;
}

PromptChunks tokenize_prompt(const ClipTokenizer& tok, std::string_view prompt, int32_t pad_id,
                             const ChunkOptions& opt) {
    SDPP_CHECK(opt.chunk_length > 0, "prompt chunk length must be positive, got ", opt.chunk_length);
    std::vector<WeightedText> parsed =
        opt.emphasis ? parse_prompt_attention(prompt) : std::vector<WeightedText>{{std::string(prompt), 1.0}};
    const int32_t sot = tok.sot_id(), eot = tok.eot_id(), comma = tok.comma_id();
    const size_t len = size_t(opt.chunk_length);

    PromptChunks out;
    std::vector<int32_t> ids;
    std::vector<double> mults;
    std::vector<TokenChunk::Fix> fixes;
    int last_comma = -1;

    auto next_chunk = [&](bool is_last) {
        out.token_count += is_last ? int(ids.size()) : opt.chunk_length;
        if (ids.size() < len) {
            mults.resize(len, 1.0);
            ids.resize(len, eot);
        }
        TokenChunk c;
        c.ids.reserve(len + 2);
        c.ids.push_back(sot);
        c.ids.insert(c.ids.end(), ids.begin(), ids.end());
        c.ids.push_back(eot);
        c.weights.push_back(1.0f);
        for (double m : mults) c.weights.push_back(float(m));  // torch.asarray(multipliers): float32
        c.weights.push_back(1.0f);
        // process_tokens: everything after the first end token becomes the pad id.
        bool seen = false;
        for (int32_t& id : c.ids) {
            if (seen) id = pad_id;
            else if (id == eot) seen = true;
        }
        c.fixes = std::move(fixes);
        fixes.clear();
        out.chunks.push_back(std::move(c));
        last_comma = -1;
        ids.clear();
        mults.clear();
    };

    for (const WeightedText& frag : parsed) {
        if (frag.text == "BREAK" && frag.weight == -1) {
            next_chunk(false);
            continue;
        }
        std::vector<int32_t> tokens = tok.encode(frag.text);
        for (size_t position = 0; position < tokens.size();) {
            const int32_t token = tokens[position];
            if (token == comma) {
                last_comma = int(ids.size());
            } else if (opt.comma_backtrack != 0 && ids.size() == len && last_comma != -1 &&
                       int(ids.size()) - last_comma <= opt.comma_backtrack) {
                // The chunk is full: move the text after its last comma into the next chunk.
                size_t at = size_t(last_comma + 1);
                std::vector<int32_t> reloc_ids(ids.begin() + std::ptrdiff_t(at), ids.end());
                std::vector<double> reloc_mults(mults.begin() + std::ptrdiff_t(at), mults.end());
                ids.resize(at);
                mults.resize(at);
                next_chunk(false);
                ids = std::move(reloc_ids);
                mults = std::move(reloc_mults);
            }
            if (ids.size() == len) next_chunk(false);
            std::optional<EmbeddingMatch> emb = opt.embeddings ? opt.embeddings->match(tokens, position) : std::nullopt;
            if (!emb) {
                ids.push_back(token);
                mults.push_back(frag.weight);
                ++position;
                continue;
            }
            // An embedding: N slots (id 0) with the fragment's weight, in one chunk. As in A1111,
            // a later comma relocation moves slots but not their fix (it stays with its chunk).
            const size_t n = size_t(emb->vectors.dim(0));
            if (n > len)
                throw error("embedding '", emb->name, "' has ", n, " vectors; a prompt chunk holds ", len, " tokens");
            if (ids.size() + n > len) next_chunk(false);
            fixes.push_back({int(ids.size()), emb->vectors, emb->name});
            ids.insert(ids.end(), n, 0);
            mults.insert(mults.end(), n, frag.weight);
            position += emb->n_tokens;
        }
    }
    if (!ids.empty() || out.chunks.empty()) next_chunk(true);
    return out;
}

TokenChunk empty_chunk(const ClipTokenizer& tok, int32_t pad_id, int chunk_length) {
    TokenChunk c;
    c.ids.assign(size_t(chunk_length) + 2, pad_id);
    c.ids[0] = tok.sot_id();
    c.ids[1] = tok.eot_id();
    c.weights.assign(size_t(chunk_length) + 2, 1.0f);
    return c;
}

void equalize_chunk_counts(PromptChunks& a, PromptChunks& b, const ClipTokenizer& tok, int32_t pad_a, int32_t pad_b) {
    auto len_of = [](const PromptChunks& p) { return p.chunks.empty() ? 75 : int(p.chunks[0].ids.size()) - 2; };
    while (a.chunks.size() < b.chunks.size()) a.chunks.push_back(empty_chunk(tok, pad_a, len_of(a)));
    while (b.chunks.size() < a.chunks.size()) b.chunks.push_back(empty_chunk(tok, pad_b, len_of(b)));
}

}  // namespace sdpp::text
