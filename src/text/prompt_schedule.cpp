// A1111 prompt editing / alternation / AND (see prompt_schedule.h).
//
// A1111's grammar (modules/prompt_parser.py, lark):
//   start:      (prompt | /[][():]/+)*          stray brackets and colons are text at the top level
//   prompt:     (emphasized | scheduled | alternate | plain | WHITESPACE)*
//   emphasized: "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"   (tokens kept)
//   scheduled:  "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
//   alternate:  "[" prompt ("|" [prompt])+ "]"
//   plain:      /([^\\\[\]():|]|\\.)+/
// Every token but those of `scheduled` / `alternate` is kept verbatim, so a schedule's text is the
// prompt with each edit / alternation replaced by its branch for that step. Inside a construct a
// prompt cannot hold a bare ':', '|', ']' or ')', which makes the construct at a '[' or '(' unique;
// at the top level a '[' or '(' whose construct does not close is text. A '|' outside any
// alternation (or a '\' with nothing after it) has no parse, and A1111 then keeps the whole prompt.
// Where Earley finds both readings (an edit directly followed by ':', "[a:b:0.5]:c"), A1111's result
// depends on Python's hash seed; we take the edit (one of the results A1111 gives).
#include "text/prompt_schedule.h"

#include "text/unicode.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

namespace sdpp::text {
namespace {

struct Node;
using Seq = std::vector<Node>;

struct Node {
    enum Kind { Text, Scheduled, Alternate } kind = Text;
    std::u32string text;       // Text
    std::vector<Seq> parts;    // Scheduled: {before, after}; Alternate: the options
    std::string number;        // Scheduled: the NUMBER token
};

constexpr int kMaxDepth = 200;  // deeper nesting is not parsed as constructs (no stack overflow)

bool is_special(char32_t c) { return c == '[' || c == ']' || c == '(' || c == ')' || c == ':' || c == '|' || c == '\\'; }

// lark's common.SIGNED_NUMBER at s[i] (ASCII digits only): ["+"|"-"] (FLOAT | INT).
size_t match_number(std::u32string_view s, size_t i) {
    auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
    size_t k = i;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    size_t int_end = k;
    while (digit(int_end)) ++int_end;
    size_t end = int_end;
    const bool has_int = int_end > k;
    bool ok = has_int;
    if (end < s.size() && s[end] == '.') {
        size_t f = end + 1;
        while (digit(f)) ++f;
        if (has_int || f > end + 1) {
            end = f;
            ok = true;
        }
    }
    if (!ok) return 0;
    if (end < s.size() && (s[end] == 'e' || s[end] == 'E')) {
        size_t e = end + 1;
        if (e < s.size() && (s[e] == '+' || s[e] == '-')) ++e;
        size_t d = e;
        while (digit(d)) ++d;
        if (d > e) end = d;
    }
    return end - i;
}

double py_float(const std::string& s) {
    std::string t = s;
    if (!t.empty() && t[0] == '+') t.erase(0, 1);
    double v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec == std::errc::result_out_of_range) {  // Python: overflow -> inf, underflow -> 0
        const bool tiny = t.find("e-") != std::string::npos || t.find("E-") != std::string::npos;
        v = tiny ? 0.0 : (t[0] == '-') ? -HUGE_VAL : HUGE_VAL;
    }
    return v;
}

class Parser {
public:
    explicit Parser(std::u32string_view s) : s_(s), memo_(s.size()) {}

    // The top level; nullopt when the grammar has no parse.
    std::optional<Seq> parse_start() {
        Seq out;
        size_t i = 0;
        while (i < s_.size()) {
            const char32_t c = s_[i];
            if (c == '[' || c == '(') {
                if (construct(i, 0, out)) continue;
                out.push_back(text(U"", c));
                ++i;
            } else if (c == ']' || c == ')' || c == ':') {
                out.push_back(text(U"", c));
                ++i;
            } else if (c == '|') {
                return std::nullopt;
            } else if (c == '\\') {
                if (i + 1 >= s_.size() || s_[i + 1] == '\n') return std::nullopt;
                out.push_back(text(s_.substr(i, 2)));
                i += 2;
            } else {
                size_t j = i;
                while (j < s_.size() && !is_special(s_[j])) ++j;
                out.push_back(text(s_.substr(i, j - i)));
                i = j;
            }
        }
        return out;
    }

private:
    struct Memo {
        bool done = false, ok = false;
        size_t end = 0;
        Seq nodes;
    };

    static Node text(std::u32string_view t, char32_t extra = 0) {
        Node n;
        n.text = std::u32string(t);
        if (extra) n.text.push_back(extra);
        return n;
    }

    // `prompt` inside a construct: stops at anything it cannot take (',' ']' ')' ':' '|', a
    // construct that does not close, a '\' without a following character).
    void prompt(size_t& i, int depth, Seq& out) {
        while (i < s_.size()) {
            const char32_t c = s_[i];
            if (c == '[' || c == '(') {
                if (!construct(i, depth, out)) return;
            } else if (c == ']' || c == ')' || c == ':' || c == '|') {
                return;
            } else if (c == '\\') {
                if (i + 1 >= s_.size() || s_[i + 1] == '\n') return;
                out.push_back(text(s_.substr(i, 2)));
                i += 2;
            } else {
                size_t j = i;
                while (j < s_.size() && !is_special(s_[j])) ++j;
                out.push_back(text(s_.substr(i, j - i)));
                i = j;
            }
        }
    }

    // [WHITESPACE] NUMBER [WHITESPACE] "]" at k; the number's text and the position after ']'.
    bool number_tail(size_t k, std::string& number, size_t& end) const {
        while (k < s_.size() && is_py_space(s_[k])) ++k;
        const size_t n = match_number(s_, k);
        if (n == 0) return false;
        number.clear();
        for (size_t q = k; q < k + n; ++q) number.push_back(char(s_[q]));
        k += n;
        while (k < s_.size() && is_py_space(s_[k])) ++k;
        if (k >= s_.size() || s_[k] != ']') return false;
        end = k + 1;
        return true;
    }

    // A construct starting at s_[i] ('[' or '('): appends its nodes and moves i past it.
    bool construct(size_t& i, int depth, Seq& out) {
        Memo& m = memo_[i];
        if (!m.done) {
            m.done = true;  // a construct never re-enters its own position
            if (depth < kMaxDepth) m.ok = s_[i] == '[' ? bracket(i, depth + 1, m.end, m.nodes)
                                                       : paren(i, depth + 1, m.end, m.nodes);
        }
        if (!m.ok) return false;
        out.insert(out.end(), m.nodes.begin(), m.nodes.end());
        i = m.end;
        return true;
    }

    bool paren(size_t i, int depth, size_t& end, Seq& out) {
        size_t j = i + 1;
        Seq p1;
        prompt(j, depth, p1);
        if (j >= s_.size()) return false;
        out.push_back(text(U"("));
        out.insert(out.end(), p1.begin(), p1.end());
        if (s_[j] == ')') {
            out.push_back(text(U")"));
            end = j + 1;
            return true;
        }
        if (s_[j] != ':') return false;
        ++j;
        Seq p2;
        prompt(j, depth, p2);
        if (j >= s_.size() || s_[j] != ')') return false;
        out.push_back(text(U":"));
        out.insert(out.end(), p2.begin(), p2.end());
        out.push_back(text(U")"));
        end = j + 1;
        return true;
    }

    bool bracket(size_t i, int depth, size_t& end, Seq& out) {
        size_t j = i + 1;
        Seq p1;
        prompt(j, depth, p1);
        if (j >= s_.size()) return false;
        if (s_[j] == ']') {  // emphasized [x]
            out.push_back(text(U"["));
            out.insert(out.end(), p1.begin(), p1.end());
            out.push_back(text(U"]"));
            end = j + 1;
            return true;
        }
        if (s_[j] == '|') {
            Node alt;
            alt.kind = Node::Alternate;
            alt.parts.push_back(std::move(p1));
            while (j < s_.size() && s_[j] == '|') {
                ++j;
                Seq p;
                prompt(j, depth, p);
                alt.parts.push_back(std::move(p));
            }
            if (j >= s_.size() || s_[j] != ']') return false;
            out.push_back(std::move(alt));
            end = j + 1;
            return true;
        }
        if (s_[j] != ':') return false;
        Node sch;
        sch.kind = Node::Scheduled;
        if (number_tail(j + 1, sch.number, end)) {  // [to:when]
            sch.parts = {Seq{}, std::move(p1)};
            out.push_back(std::move(sch));
            return true;
        }
        size_t k = j + 1;
        Seq p2;
        prompt(k, depth, p2);
        if (k >= s_.size() || s_[k] != ':' || !number_tail(k + 1, sch.number, end)) return false;
        sch.parts = {std::move(p1), std::move(p2)};
        out.push_back(std::move(sch));
        return true;
    }

    std::u32string_view s_;
    std::vector<Memo> memo_;
};

// The step an edit switches at (A1111 CollectSteps.scheduled).
int edit_step(const std::string& number, const ScheduleOptions& opt) {
    const bool hires = opt.hires_steps > 0 && !opt.old_scheduling;
    const int steps = hires ? opt.hires_steps : opt.steps;
    double v = py_float(number);
    if (opt.old_scheduling) {
        if (v < 1) v = v * steps;
    } else if (number.find('.') != std::string::npos) {
        v = (v - (hires ? 1.0 : 0.0)) * steps;
    } else {
        v = v - (hires ? opt.steps : 0);
    }
    v = std::clamp(std::trunc(v), -1e9, 1e9);
    return std::min(steps, int(v));
}

struct Walk {
    const ScheduleOptions& opt;
    std::set<int> steps;
    std::vector<std::string> numbers;
    bool any_alternate = false;

    void visit(const Seq& seq) {
        for (const Node& n : seq) {
            if (n.kind == Node::Scheduled) {
                const int w = edit_step(n.number, opt);
                if (w >= 1) steps.insert(w);
                numbers.push_back(n.number);
            } else if (n.kind == Node::Alternate) {
                any_alternate = true;
            }
            for (const Seq& p : n.parts) visit(p);
        }
    }
};

void render(const Seq& seq, int step, const ScheduleOptions& opt, std::u32string& out) {
    for (const Node& n : seq) {
        switch (n.kind) {
            case Node::Text: out += n.text; break;
            case Node::Scheduled: render(step <= edit_step(n.number, opt) ? n.parts[0] : n.parts[1], step, opt, out); break;
            case Node::Alternate: render(n.parts[size_t(step - 1) % n.parts.size()], step, opt, out); break;
        }
    }
}

int pass_steps(const ScheduleOptions& opt) {
    return opt.hires_steps > 0 && !opt.old_scheduling ? opt.hires_steps : opt.steps;
}

bool is_and_word(char32_t c) { return is_py_word(c); }

// re_weight's tail "\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+))\s*$" on s[i:]; the number's value on a match.
std::optional<double> weight_tail(std::u32string_view s, size_t i) {
    while (i < s.size() && is_py_space(s[i])) ++i;
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    ++i;
    while (i < s.size() && is_py_space(s[i])) ++i;
    size_t e = s.size();
    while (e > i && is_py_space(s[e - 1])) --e;
    std::string num;
    size_t k = i;
    if (k < e && (s[k] == '+' || s[k] == '-')) num.push_back(char(s[k++]));
    int before = 0, after = 0;
    bool dot = false;
    for (; k < e; ++k) {
        const int d = decimal_digit(s[k]);
        if (d >= 0) {
            num.push_back(char('0' + d));
            (dot ? after : before)++;
        } else if (s[k] == '.' && !dot) {
            dot = true;
            num.push_back('.');
        } else {
            return std::nullopt;
        }
    }
    // \d+\.? or \d*\.\d+
    if (!(before > 0 && after == 0) && !(after > 0)) return std::nullopt;
    return py_float(num);
}

}  // namespace

PromptSchedule prompt_schedule(std::string_view prompt, const ScheduleOptions& opt) {
    const int steps = pass_steps(opt);
    const std::u32string s = utf8_decode(prompt);
    Parser parser(s);
    std::optional<Seq> tree = parser.parse_start();
    if (!tree) return {{steps, std::string(prompt)}};
    Walk w{opt, {steps}, {}, false};
    w.visit(*tree);
    if (w.any_alternate)
        for (int k = 1; k <= steps; ++k) w.steps.insert(k);
    PromptSchedule out;
    for (int t : w.steps) {
        std::u32string text;
        render(*tree, t, opt, text);
        out.push_back({t, utf8_encode(text)});
    }
    return out;
}

bool prompt_parses(std::string_view prompt) {
    const std::u32string s = utf8_decode(prompt);
    return Parser(s).parse_start().has_value();
}

bool has_prompt_editing(std::string_view prompt) {
    const std::u32string s = utf8_decode(prompt);
    Parser parser(s);
    std::optional<Seq> tree = parser.parse_start();
    if (!tree) return false;
    ScheduleOptions opt;
    Walk w{opt, {}, {}, false};
    w.visit(*tree);
    return w.any_alternate || !w.numbers.empty();
}

std::vector<std::string> out_of_range_edits(std::string_view prompt, const ScheduleOptions& opt) {
    const std::u32string s = utf8_decode(prompt);
    Parser parser(s);
    std::optional<Seq> tree = parser.parse_start();
    std::vector<std::string> out;
    if (!tree) return out;
    Walk w{opt, {}, {}, false};
    w.visit(*tree);
    const int steps = pass_steps(opt);
    for (const std::string& n : w.numbers) {
        const int when = edit_step(n, opt);
        if (when < 1 || when >= steps) out.push_back(n);
    }
    return out;
}

std::vector<SubPrompt> split_subprompts(std::string_view prompt) {
    const std::u32string s = utf8_decode(prompt);
    // re_AND = \bAND\b
    std::vector<std::u32string_view> parts;
    size_t start = 0;
    for (size_t i = 0; i + 3 <= s.size();) {
        const bool word = s.compare(i, 3, U"AND") == 0;
        const bool left = i == 0 || !is_and_word(s[i - 1]);
        const bool right = i + 3 == s.size() || !is_and_word(s[i + 3]);
        if (word && left && right) {
            parts.push_back(std::u32string_view(s).substr(start, i - start));
            i += 3;
            start = i;
        } else {
            ++i;
        }
    }
    parts.push_back(std::u32string_view(s).substr(start));

    std::vector<SubPrompt> out;
    for (std::u32string_view p : parts) {
        // re_weight = ^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$ : the shortest text
        // whose rest is a weight tail or whitespace.
        SubPrompt sp;
        for (size_t t = 0; t <= p.size(); ++t) {
            if (std::optional<double> w = weight_tail(p, t)) {
                sp.text = utf8_encode(p.substr(0, t));
                sp.weight = *w;
                break;
            }
            size_t k = t;
            while (k < p.size() && is_py_space(p[k])) ++k;
            if (k == p.size()) {
                sp.text = utf8_encode(p.substr(0, t));
                break;
            }
        }
        out.push_back(std::move(sp));
    }
    return out;
}

size_t schedule_index_at(const PromptSchedule& schedule, int call) {
    for (size_t i = 0; i < schedule.size(); ++i)
        if (call <= schedule[i].end_at_step) return i;
    return 0;
}

}  // namespace sdpp::text
