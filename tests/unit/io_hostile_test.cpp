// Hostile-file corpus, generated in a temporary folder: broken and malicious safetensors files,
// .ckpt zips and pickles. Each must give one clear sdpp::Error naming the file and the problem,
// never a crash, a hang, a huge allocation, or (for pickles) any executed code.
#include "common/ckpt_writer.h"
#include "io/ckpt.h"
#include "io/safetensors.h"
#include "io/unpickle.h"
#include "io/zip_archive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sdpp;
using namespace sdpp::testing;
using namespace std::string_literals;

namespace {

class HostileTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_io_hostile_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& n) const { return (dir_ / n).string(); }

    std::string write(const std::string& name, const std::string& bytes) const {
        std::ofstream(path(name), std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        return path(name);
    }
    // A safetensors file: 8-byte length (or `len` when given), header, data.
    std::string st(const std::string& name, const std::string& header, const std::string& data = "",
                   std::optional<uint64_t> len = std::nullopt) const {
        std::string b(8, '\0');
        const uint64_t n = len.value_or(header.size());
        for (int i = 0; i < 8; ++i) b[size_t(i)] = char((n >> (8 * i)) & 0xff);
        return write(name, b + header + data);
    }
    // A checkpoint zip holding `pkl` as archive/data.pkl plus the given storages.
    std::string ckpt(const std::string& name, const std::string& pkl,
                     const std::vector<std::pair<std::string, std::string>>& storages = {}) const {
        std::vector<std::pair<std::string, std::string>> records = {{"archive/data.pkl", pkl}};
        for (const auto& [k, v] : storages) records.emplace_back("archive/data/" + k, v);
        write_zip(path(name), records);
        return path(name);
    }
    fs::path dir_;
};

// Runs f, which must throw sdpp::Error whose one-line message contains every needle. (A hang is
// caught by the CTest timeout, not by a wall-clock assertion, which flakes under sanitizers.)
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> needles) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one containing '" << *needles.begin() << "'";
    } catch (const Error& e) {
        const std::string m = e.what();
        for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "message: " << m << "\nlacks: " << n;
        EXPECT_EQ(m.find('\n'), std::string::npos) << "multi-line message: " << m;
    }
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

const std::string kEntry = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";

// ---- safetensors -------------------------------------------------------------------------

TEST_F(HostileTest, SafetensorsTruncatedAndEmpty) {
    auto p = write("short.safetensors", "\x05\x00\x00");
    expect_error([&] { SafetensorsFile::open(p); }, {p, "shorter than the 8-byte header length"});
    auto e = write("empty.safetensors", "");
    expect_error([&] { SafetensorsFile::open(e); }, {e, "0 bytes"});
    // A valid file cut inside its data area.
    auto t = st("cut.safetensors", "{\"w\":{" + kEntry + "}}", std::string(5, '\0'));
    expect_error([&] { SafetensorsFile::open(t); }, {t, "'w'", "outside the data area", "truncated"});
}

TEST_F(HostileTest, SafetensorsHeaderLength) {
    auto p = st("past.safetensors", "{}", "", 1000);
    expect_error([&] { SafetensorsFile::open(p); }, {p, "header length 1000 runs past the end of the file"});
    auto h = st("huge.safetensors", "{}", "", uint64_t(1) << 63);
    expect_error([&] { SafetensorsFile::open(h); }, {h, "9223372036854775808 exceeds the 100 MiB limit"});
    auto m = st("max.safetensors", "{}", "", ~uint64_t(0));
    expect_error([&] { SafetensorsFile::open(m); }, {m, "exceeds the 100 MiB limit"});
}

TEST_F(HostileTest, SafetensorsInvalidJson) {
    for (const std::string h : {"{", "{\"w\":", "not json", "{\"w\":{\"dtype\":\"F32\",}}", "\xff\xfe{}",
                                "{\"w\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,8]}}"}) {
        auto p = st("bad.safetensors", h);
        expect_error([&] { SafetensorsFile::open(p); }, {p, "not valid JSON"});
    }
}

TEST_F(HostileTest, SafetensorsWrongStructure) {
    struct Case { std::string header, needle; };
    const std::vector<Case> cases = {
        {"[1,2]", "not a JSON object"},
        {"7", "not a JSON object"},
        {"{\"w\":5}", "entry 'w' is not a JSON object"},
        {"{\"w\":[1]}", "entry 'w' is not a JSON object"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", "entry 'w' lacks a valid dtype, shape or data_offsets"},
        {"{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", "lacks a valid dtype"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,8]}}", "lacks a valid dtype"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]}}", "'w'"},
        {"{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unsupported dtype Q4"},
        {"{\"__metadata__\":[]}", "__metadata__"},
        {"{\"__metadata__\":{\"a\":1}}", "__metadata__ value for 'a' is not a string"},
        {"{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", "__metadata__ value for 'a' is not a string"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.header);
        auto p = st("s.safetensors", c.header, std::string(8, '\0'));
        expect_error([&] { SafetensorsFile::open(p); }, {p, c.needle});
    }
}

TEST_F(HostileTest, SafetensorsBadDims) {
    struct Case { std::string shape, needle; };
    const std::vector<Case> cases = {
        {"[-1]", "invalid dimension -1"},
        {"[1.5]", "invalid dimension 1.5"},
        {"[1e300]", "invalid dimension"},
        {"[\"2\"]", "invalid dimension"},
        {"[null]", "invalid dimension"},
        {"[1125899906842624]", "invalid dimension 1125899906842624"},  // 2^50
        {"[1099511627776,1099511627776,1099511627776]", "absurd element count"},  // 2^120 elements
        {"[1099511627776,1099511627776]", "absurd"},  // 2^80 elements
        {"[2147483648,1073741824]", "absurd byte size"},  // 2^61 elements x 4 bytes overflows 2^62
        {"[1" + [] { std::string r; for (int i = 0; i < 64; ++i) r += ",1"; return r; }() + "]",
         "more than 64 dimensions"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.shape);
        auto p = st("d.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":" + c.shape + ",\"data_offsets\":[0,8]}}",
                    std::string(8, '\0'));
        expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", c.needle});
    }
}

TEST_F(HostileTest, SafetensorsOffsets) {
    struct Case { std::string header, needle; };
    const std::string f32x2 = R"("dtype":"F32","shape":[2],"data_offsets":)";
    const std::vector<Case> cases = {
        {"{\"a\":{" + f32x2 + "[0,8]},\"b\":{" + f32x2 + "[4,12]}}", "overlap"},
        {"{\"a\":{" + f32x2 + "[0,8]},\"b\":{" + f32x2 + "[0,8]}}", "overlap"},
        {"{\"a\":{" + f32x2 + "[8,24]}}", "outside the data area"},
        {"{\"a\":{" + f32x2 + "[18446744073709551615,7]}}", "outside the data area"},
        {"{\"a\":{" + f32x2 + "[8,0]}}", "outside the data area"},
        {"{\"a\":{" + f32x2 + "[-1,7]}}", "invalid data_offsets"},
        {"{\"a\":{" + f32x2 + "[0,8,16]}}", "invalid data_offsets"},
        {"{\"a\":{" + f32x2 + "[0]}}", "invalid data_offsets"},
        {"{\"a\":{" + f32x2 + "[0.0,8]}}", "invalid data_offsets"},
        {"{\"a\":{" + f32x2 + "[0,4]}}", "has 4 bytes but shape [2] x f32 needs 8"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,16]}}", "needs 6"},
        {"{\"a\":{" + f32x2 + "[0,8]},\"a\":{" + f32x2 + "[8,16]}}", "tensor name 'a' appears twice"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.header);
        auto p = st("o.safetensors", c.header, std::string(16, '\0'));
        expect_error([&] { SafetensorsFile::open(p); }, {p, c.needle});
    }
}

TEST_F(HostileTest, SafetensorsDeepNestingAndLongArraysStayCheap) {
    // A million nested arrays: rejected at the third level, with no tree built.
    auto p = st("deep.safetensors", std::string(1000000, '['));
    expect_error([&] { SafetensorsFile::open(p); }, {p, "not a JSON object"});
    auto q = st("deep2.safetensors", "{\"w\":{\"x\":" + std::string(1000000, '[') + "}}");
    expect_error([&] { SafetensorsFile::open(q); }, {q, "'w'"});
    // Ten million shape entries: stopped at the 65th.
    std::string longshape = "{\"w\":{\"dtype\":\"F32\",\"shape\":[";
    for (int i = 0; i < 10000000; ++i) longshape += "1,";
    longshape += "1],\"data_offsets\":[0,4]}}";
    auto r = st("long.safetensors", longshape, std::string(4, '\0'));
    expect_error([&] { SafetensorsFile::open(r); }, {r, "more than 64 dimensions"});
}

// ---- pickles that try to run code --------------------------------------------------------

std::string call_pickle(const std::string& module, const std::string& name, const std::string& arg) {
    PickleWriter w;
    w.proto(2).global(module, name).str(arg).tuple(1).op('R').put().stop();
    return w.bytes();
}

TEST_F(HostileTest, PickleGlobalsThatRunCodeAreRefusedAndNothingRuns) {
    const std::string marker = path("pwned");
    const std::vector<std::pair<std::string, std::string>> globals = {
        {"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"builtins", "exec"},
        {"__builtin__", "eval"}, {"subprocess", "Popen"}, {"subprocess", "check_output"},
        {"builtins", "getattr"}, {"torch.storage", "_load_from_bytes"}, {"webbrowser", "open"},
        {"collections", "Counter"}, {"torch._utils", "_rebuild_device_tensor_from_numpy"},
        {"nt", "system"}, {"runpy", "_run_code"}, {"pickle", "loads"},
    };
    for (const auto& [m, n] : globals) {
        SCOPED_TRACE(m + "." + n);
        auto p = ckpt(m + "_" + n + ".ckpt", call_pickle(m, n, "touch " + marker));
        expect_error([&] { CkptFile::open(p); },
                     {p + ": the checkpoint tries to run code (global " + m + "." + n + "); refusing to load it"});
    }
    EXPECT_FALSE(fs::exists(marker));
}

TEST_F(HostileTest, PickleCodeIsRefusedInEveryOpcodeSpelling) {
    const std::string msg = "the checkpoint tries to run code (global os.system)";
    // STACK_GLOBAL (protocol 4): SHORT_BINUNICODE 'os', SHORT_BINUNICODE 'system', STACK_GLOBAL.
    std::string sg = "\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94."s;
    // INST (protocol 0): MARK, arg, INST 'os\nsystem\n'.
    PickleWriter inst2;
    inst2.mark().str("id").raw("ios\nsystem\n").stop();
    // OBJ: MARK, GLOBAL, arg, OBJ.
    std::string obj = "(cos\nsystem\nX\x02\x00\x00\x00" "idoN."s;
    // A global only referenced (never called) inside an otherwise valid state dict, after a tensor.
    CkptSpec spec;
    spec.tensors.push_back({});
    spec.tensors[0].name = "w";
    spec.tensors[0].storage_key = "0";
    spec.tensors[0].storage_numel = 1;
    spec.tensors[0].size = {1};
    std::string legit = ckpt_pickle(spec);
    const auto stop = legit.rfind('.');
    std::string hidden = legit.substr(0, stop) + "cos\nsystem\n0" + ".";  // GLOBAL then POP
    // The same behind NEWOBJ and inside the persistent id.
    PickleWriter newobj;
    newobj.proto(2).global("subprocess", "Popen").str("id").tuple(1).op('\x81').stop();
    PickleWriter persid;
    persid.proto(2).mark().str("storage").global("os", "system").str("0").str("cpu").integer(1).tuple(5).op('Q').stop();

    for (const auto& [label, pkl, expect] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"stack_global", sg, msg}, {"inst", inst2.bytes(), msg}, {"obj", obj, msg}, {"hidden", hidden, msg},
             {"newobj", newobj.bytes(), "(global subprocess.Popen)"}, {"persid", persid.bytes(), msg}}) {
        SCOPED_TRACE(label);
        expect_error([&] { pickle::unpickle(bytes_of(pkl), "data.pkl"); }, {expect, "refusing to load it"});
        auto p = ckpt(label + ".ckpt", pkl, {{"0", std::string(4, '\0')}});
        expect_error([&] { CkptFile::open(p); }, {p, expect});
    }
}

TEST_F(HostileTest, PickleMalformed) {
    struct Case { std::string label, pkl, needle; };
    PickleWriter dict;
    dict.proto(2).op('}').put();
    std::string valid = dict.bytes() + ".";
    const std::vector<Case> cases = {
        {"empty", "", "truncated: ends without a STOP opcode"},
        {"no_stop", valid.substr(0, valid.size() - 1), "ends without a STOP"},
        {"cut_string", "\x80\x02X\xff\x00\x00\x00" "abc"s, "truncated: needs 255 more bytes"},
        {"cut_global", "\x80\x02" "ccollections\nOrdered", "unterminated"},
        {"huge_unicode8", std::string("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f", 11) + "x.", "truncated"},
        {"underflow", "\x80\x02R.", "stack underflow"},
        {"pop_below_mark", "\x80\x02(00.", "no MARK"},
        {"bad_memo_get", "\x80\x02h\x05.", "memo index 5 was never stored"},
        {"put_empty", "\x80\x02q\x00."s, "stack underflow"},
        {"bad_opcode", "\x80\x02\xff.", "unsupported pickle opcode 0xff"},
        {"persid_text", "\x80\x02P0\n.", "unsupported pickle opcode 'P'"},
        {"ext1", "\x80\x02\x82\x01.", "copyreg extension registry"},
        {"proto9", "\x80\x09N.", "unsupported pickle protocol 9"},
        {"setitem_on_list", "\x80\x02]NNs.", "SETITEM on a list"},
        {"append_to_dict", "\x80\x02}Na.", "APPEND to a dict"},
        {"odd_dict", "\x80\x02(Nd.", "odd number"},
        {"call_a_string", "\x80\x02X\x01\x00\x00\x00" "a)R."s, "not an allowed callable"},
        {"call_storage_type", "\x80\x02" "ctorch\nFloatStorage\n)R.", "checkpoints never call"},
        {"bad_persid", "\x80\x02X\x01\x00\x00\x00" "xQ."s, "unsupported persistent id"},
        {"long4_negative", "\x80\x02\x8b\xff\xff\xff\xff.", "negative length"},
        {"build_on_int", "\x80\x02K\x01}b.", "BUILD on a int"},
        {"newobj_ex_kwargs", "\x80\x04" "ccollections\nOrderedDict\n)}K\x01K\x02s\x92.", "keyword arguments"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.label);
        expect_error([&] { pickle::unpickle(bytes_of(c.pkl), "data.pkl"); }, {"data.pkl: ", c.needle, "(byte "});
    }
}

TEST_F(HostileTest, PickleLimitsDeepNestingAndMemoAbuse) {
    // 100k MARKs: stopped at the nesting limit.
    std::string marks = "\x80\x02" + std::string(100000, '(') + ".";
    expect_error([&] { pickle::unpickle(bytes_of(marks)); }, {"nested deeper than 1024 levels"});
    // 200k nested lists ([[[...]]]) parse without recursion and are refused as a checkpoint root.
    std::string lists = "\x80\x02" + std::string(200000, ']') + std::string(199999, 'a') + ".";
    auto pk = pickle::unpickle(bytes_of(lists));
    EXPECT_EQ(pk.root()->kind, pickle::Kind::List);
    auto p = ckpt("lists.ckpt", lists);
    expect_error([&] { CkptFile::open(p); }, {p, "holds a list (1 items), not a dict of tensors"});
    // A list that contains itself (memo cycle): no leak, no infinite loop.
    std::string cycle = "\x80\x02]q\x00h\x00" "a."s;
    auto c = pickle::unpickle(bytes_of(cycle));
    EXPECT_EQ(c.root()->items[0], c.root());
    // Memo, stack and node limits.
    pickle::Limits small;
    small.max_memo = 100;
    small.max_stack = 100;
    small.max_values = 1000;
    std::string memo = "\x80\x02N";
    for (uint32_t i = 0; i < 1000; ++i) memo += "r" + std::string(reinterpret_cast<const char*>(&i), 4);
    memo += ".";
    expect_error([&] { pickle::unpickle(bytes_of(memo), "p", small); }, {"memo grows past 100 entries"});
    std::string dups = "\x80\x02N" + std::string(1000, '2') + ".";
    expect_error([&] { pickle::unpickle(bytes_of(dups), "p", small); }, {"stack grows past 100 values"});
    std::string nodes = "\x80\x02" + std::string(2000, 'N') + ".";
    pickle::Limits big_stack = small;
    big_stack.max_stack = 1 << 20;
    expect_error([&] { pickle::unpickle(bytes_of(nodes), "p", big_stack); }, {"more than 1000 values"});
    // Memo indices are sparse: index 0xffffffff costs one entry, not 4 billion.
    std::string far = "\x80\x02}r\xff\xff\xff\xffj\xff\xff\xff\xff.";
    EXPECT_EQ(pickle::unpickle(bytes_of(far)).root()->kind, pickle::Kind::Dict);
}

TEST_F(HostileTest, PickleAmplificationIsBounded) {
    // A 100k-item tuple in the memo, then 100k calls that each copy it (BINGET BINGET REDUCE POP):
    // 600 KB of pickle asking for 80 GB of copies. Each copying callable is tried.
    pickle::Limits lim;
    lim.max_memory_bytes = 64 << 20;
    for (const auto& [module, name, wrap] : std::vector<std::tuple<std::string, std::string, bool>>{
             {"numpy", "dtype", false}, {"torch", "Size", true}, {"builtins", "set", true}}) {
        SCOPED_TRACE(module + "." + name);
        PickleWriter w;
        w.proto(2).global(module, name);  // memo 0
        w.mark();
        for (int i = 0; i < 100000; ++i) w.none();
        w.tuple(100000);  // memo 1
        if (wrap) w.tuple(1);  // memo 2: (big,)
        std::string bomb = w.bytes();
        for (int i = 0; i < 100000; ++i) bomb += wrap ? "h\x00h\x02R0"s : "h\x00h\x01R0"s;
        bomb += "N.";
        expect_error([&] { pickle::unpickle(bytes_of(bomb), "data.pkl", lim); }, {"memory bomb"});
    }
    // OrderedDict(list of 50k pairs), rebuilt 100k times.
    PickleWriter od;
    od.proto(2).global("collections", "OrderedDict").op(']').put().mark();
    for (int i = 0; i < 50000; ++i) od.integer(i).integer(i).tuple(2);
    od.op('e').tuple(1);
    std::string bomb = od.bytes();
    const uint32_t args_memo = 50002;  // OrderedDict 0, the list 1, the pairs 2..50001
    const std::string get_args = "j"s + std::string(reinterpret_cast<const char*>(&args_memo), 4);
    for (int i = 0; i < 100000; ++i) bomb += "h\x00"s + get_args + "R0";
    bomb += "N.";
    expect_error([&] { pickle::unpickle(bytes_of(bomb), "data.pkl", lim); }, {"memory bomb"});

    // A 4 MB key stored into 20k dicts: kept by reference and not hashed, so this is quick.
    PickleWriter key;
    key.proto(2).str(std::string(4 << 20, 'k'));  // memo 0
    std::string many = key.bytes() + "]q\x01"s;
    for (int i = 0; i < 20000; ++i) many += "}h\x00Nsa"s;
    many += ".";
    auto pk = pickle::unpickle(bytes_of(many), "data.pkl");
    ASSERT_EQ(pk.root()->items.size(), 20000u);
    // Every dict holds the one key object (no copy), and none indexed it (no 4 MB hash each).
    const pickle::Value* k0 = pk.root()->items[0]->dict.at(0).first;
    for (const pickle::Value* d : pk.root()->items) {
        ASSERT_EQ(d->dict.size(), 1u);
        EXPECT_EQ(d->dict[0].first, k0);
        EXPECT_TRUE(!d->str_keys || d->str_keys->empty());
    }
}

// ---- tensors and storages ----------------------------------------------------------------

std::string one_tensor_pickle(const std::string& key, int64_t numel, int64_t offset, const Shape& size,
                              const std::vector<int64_t>& stride, DType dt = DType::F32) {
    CkptSpec s;
    CkptTensor t;
    t.name = "w";
    t.dtype = dt;
    t.storage_key = key;
    t.storage_numel = numel;
    t.offset = offset;
    t.size = size;
    t.stride = stride;
    s.tensors.push_back(t);
    return ckpt_pickle(s);
}

TEST_F(HostileTest, TensorViewsOutsideTheirStorage) {
    struct Case { std::string label; int64_t numel, offset; Shape size; std::vector<int64_t> stride; std::string needle; };
    const std::vector<Case> cases = {
        {"past_end", 4, 0, {10}, {1}, "runs past its storage of 4 elements"},
        {"offset_past_end", 4, 5, {0}, {1}, "storage offset 5 lies outside"},
        {"offset_plus_view", 8, 5, {2, 2}, {2, 1}, "runs past"},
        {"stride_past_end", 16, 0, {4, 4}, {5, 1}, "runs past"},
        {"negative_stride", 16, 8, {4}, {-1}, "invalid stride -1"},
        {"negative_dim", 16, 0, {-4}, {1}, "invalid dim -4"},
        {"negative_offset", 16, -1, {4}, {1}, "storage offset -1"},
        {"giant_dims", 16, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}, "absurd element count"},
        {"giant_stride", 16, 0, {2}, {int64_t(1) << 62}, "invalid stride"},
        {"stride_rank", 16, 0, {4, 4}, {4}, "size has 2 dims but its stride has 1"},
        {"too_many_dims", 16, 0, Shape(40, 1), std::vector<int64_t>(40, 1), "40 dims"},
        {"absurd_numel", int64_t(1) << 62, 0, {1}, {1}, "declares 4611686018427387904 elements"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.label);
        auto p = ckpt(c.label + ".ckpt", one_tensor_pickle("0", c.numel, c.offset, c.size, c.stride),
                      {{"0", std::string(64, '\0')}});
        expect_error([&] { CkptFile::open(p); }, {p, "data.pkl", c.needle});
    }
}

TEST_F(HostileTest, StoragesMissingOrShort) {
    auto p = ckpt("short.ckpt", one_tensor_pickle("0", 16, 0, {16}, {1}), {{"0", std::string(8, '\0')}});
    expect_error([&] { CkptFile::open(p); }, {p, "storage '0' holds 8 bytes but tensor 'w' declares 16 x 4 = 64 bytes"});
    auto m = ckpt("missing.ckpt", one_tensor_pickle("7", 4, 0, {4}, {1}), {{"0", std::string(16, '\0')}});
    expect_error([&] { CkptFile::open(m); }, {m, "storage '7' of tensor 'w' is missing from the archive"});
    auto k = ckpt("key.ckpt", one_tensor_pickle("../0", 4, 0, {4}, {1}), {{"0", std::string(16, '\0')}});
    expect_error([&] { CkptFile::open(k); }, {k, "invalid storage key"});
}

TEST_F(HostileTest, BroadcastAndOverlappingViewsAreBounded) {
    // 2^40 elements through one stored element: a valid view, but materialising it would need 4 TiB.
    auto p = ckpt("broadcast.ckpt", one_tensor_pickle("0", 1, 0, {1 << 20, 1 << 20}, {0, 0}),
                  {{"0", std::string(4, '\0')}});
    expect_error([&] { CkptFile::open(p); },
                 {p, "tensor 'w' views 1099511627776 elements through a storage of 1 (broadcast strides)"});
    // An overlapping (sliding-window) view must be copied; the copy respects the budget.
    auto o = ckpt("overlap.ckpt", one_tensor_pickle("0", 4096, 0, {2048, 2048}, {1, 1}),
                  {{"0", std::string(4096 * 4, '\0')}});
    CkptLimits tight;
    tight.max_owned_bytes = 1 << 20;
    expect_error([&] { CkptFile::open(o, tight); },
                 {o, "tensor 'w' is an overlapping view of 4194304 elements; refusing to copy 16777216 bytes"});
    // Within budget it loads, as a contiguous copy with the right values.
    CkptFile f = CkptFile::open(o);
    EXPECT_EQ(f.tensors()[0].second.shape(), (Shape{2048, 2048}));
    EXPECT_TRUE(f.tensors()[0].second.is_contiguous());
    EXPECT_EQ(f.copied_storages(), 0u);
}

// ---- archives ----------------------------------------------------------------------------

// Overwrites the 32-bit field at `field_offset` of every local and central header named `name`.
void patch_zip_field(std::string& zip, const std::string& name, int local_off, int central_off, uint32_t v) {
    for (size_t p = 0; (p = zip.find(name, p)) != std::string::npos; p += name.size()) {
        int off = -1;
        if (p >= 30 && zip.compare(p - 30, 4, "PK\x03\x04") == 0) off = int(p) - 30 + local_off;
        if (p >= 46 && zip.compare(p - 46, 4, "PK\x01\x02") == 0) off = int(p) - 46 + central_off;
        if (off >= 0) std::memcpy(zip.data() + off, &v, 4);
    }
}

std::string read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_F(HostileTest, ZipBombsAndLyingSizes) {
    // A deflated storage whose headers claim 3.75 GB from a few hundred compressed bytes.
    CkptSpec s;
    s.compress = true;
    s.storages["0"] = std::string(4096, '\0');
    s.tensors.push_back({});
    s.tensors[0] = {.name = "w", .dtype = DType::F32, .storage_key = "0", .storage_numel = 1024, .offset = 0,
                    .size = {1024}, .stride = {}, .parameter = false};
    write_ckpt(path("bomb.ckpt"), s);
    std::string z = read_file(path("bomb.ckpt"));
    patch_zip_field(z, "archive/data/0", 22, 24, 0xF0000000u);
    auto p = write("bomb.ckpt", z);
    expect_error([&] { CkptFile::open(p); }, {p, "zip bomb?"});

    // The same lie on data.pkl itself.
    write_ckpt(path("bomb2.ckpt"), s);
    std::string z2 = read_file(path("bomb2.ckpt"));
    patch_zip_field(z2, "archive/data.pkl", 22, 24, 0x7FFFFFFFu);
    auto p2 = write("bomb2.ckpt", z2);
    expect_error([&] { CkptFile::open(p2); }, {p2});

    // A stored entry claiming more bytes than the whole file.
    s.compress = false;
    write_ckpt(path("lie.ckpt"), s);
    std::string z3 = read_file(path("lie.ckpt"));
    patch_zip_field(z3, "archive/data/0", 18, 20, 0x7FFFFFFFu);
    patch_zip_field(z3, "archive/data/0", 22, 24, 0x7FFFFFFFu);
    auto p3 = write("lie.ckpt", z3);
    expect_error([&] { CkptFile::open(p3); }, {p3});

    // Real (honest) compression of a large zero storage stays within the copy budget it is given.
    CkptLimits tight;
    tight.max_owned_bytes = 1000;
    CkptSpec b;
    b.compress = true;
    b.storages["0"] = std::string(1 << 20, '\0');
    b.tensors.push_back({});
    b.tensors[0] = {.name = "w", .dtype = DType::U8, .storage_key = "0", .storage_numel = 1 << 20, .offset = 0,
                    .size = {1 << 20}, .stride = {}, .parameter = false};
    write_ckpt(path("big.ckpt"), b);
    expect_error([&] { CkptFile::open(path("big.ckpt"), tight); },
                 {path("big.ckpt"), "zip entry 'archive/data/0' declares 1048576 bytes, more than the limit of 1000"});
    // And a data.pkl larger than the pickle limit.
    CkptLimits small_pkl;
    small_pkl.max_pickle_bytes = 16;
    expect_error([&] { CkptFile::open(path("big.ckpt"), small_pkl); }, {"data.pkl is", "more than the limit of 16"});
}

TEST_F(HostileTest, ArchivesThatAreNotCheckpoints) {
    auto none = write("text.ckpt", "hello, I am not a checkpoint");
    expect_error([&] { CkptFile::open(none); }, {none, "not a PyTorch checkpoint (not a zip archive)"});
    auto empty = write("empty.ckpt", "");
    expect_error([&] { CkptFile::open(empty); }, {empty, "not a PyTorch checkpoint"});
    const std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
    auto legacy = write("legacy.ckpt", magic + std::string(100, '\0'));
    expect_error([&] { CkptFile::open(legacy); }, {legacy, "unsupported legacy format (torch < 1.6"});
    auto bare = write("bare.ckpt", "\x80\x02}q\x00."s);
    expect_error([&] { CkptFile::open(bare); }, {bare, "unsupported legacy format (a bare pickle"});

    write_zip(path("nopkl.ckpt"), {{"archive/data/0", std::string(16, '\0')}, {"archive/version", "3\n"}});
    expect_error([&] { CkptFile::open(path("nopkl.ckpt")); }, {path("nopkl.ckpt"), "no <folder>/data.pkl record"});
    write_zip(path("rootpkl.ckpt"), {{"data.pkl", "\x80\x02}."}});
    expect_error([&] { CkptFile::open(path("rootpkl.ckpt")); }, {"no <folder>/data.pkl record"});
    write_zip(path("twopkl.ckpt"), {{"a/data.pkl", "\x80\x02}."}, {"b/data.pkl", "\x80\x02}."}});
    expect_error([&] { CkptFile::open(path("twopkl.ckpt")); }, {"two data.pkl records ('a/data.pkl' and 'b/data.pkl')"});
    write_zip(path("big_endian.ckpt"), {{"archive/data.pkl", "\x80\x02}."}, {"archive/byteorder", "big"}});
    expect_error([&] { CkptFile::open(path("big_endian.ckpt")); }, {"byte order 'big'"});
    write_zip(path("notensors.ckpt"), {{"archive/data.pkl", "\x80\x02}X\x05\x00\x00\x00" "epochK\x01s."s}});
    expect_error([&] { CkptFile::open(path("notensors.ckpt")); }, {"holds no tensors (top-level keys: str 'epoch')"});

    // A valid checkpoint cut in half, and one with its central directory overwritten.
    CkptSpec s;
    s.storages["0"] = std::string(4096, '\1');
    s.tensors.push_back({});
    s.tensors[0] = {.name = "w", .dtype = DType::F32, .storage_key = "0", .storage_numel = 1024, .offset = 0,
                    .size = {1024}, .stride = {}, .parameter = false};
    write_ckpt(path("good.ckpt"), s);
    const std::string good = read_file(path("good.ckpt"));
    for (size_t cut : {good.size() / 2, good.size() - 10, size_t(30), size_t(4)}) {
        auto c = write("cut.ckpt", good.substr(0, cut));
        expect_error([&] { CkptFile::open(c); }, {c});
    }
    // A zip64 end record claiming 2^40 entries for a one-entry central directory.
    {
        std::string z = good;
        const size_t eocd = z.rfind("PK\x05\x06");
        uint32_t cd_size, cd_off;
        std::memcpy(&cd_size, z.data() + eocd + 12, 4);
        std::memcpy(&cd_off, z.data() + eocd + 16, 4);
        std::string body = z.substr(0, eocd), rec;
        auto le = [&](uint64_t v, int n) { for (int i = 0; i < n; ++i) rec.push_back(char((v >> (8 * i)) & 0xff)); };
        const uint64_t z64 = body.size();
        le(0x06064b50, 4); le(44, 8); le(45, 2); le(45, 2); le(0, 4); le(0, 4);
        le(uint64_t(1) << 40, 8); le(uint64_t(1) << 40, 8); le(cd_size, 8); le(cd_off, 8);
        le(0x07064b50, 4); le(0, 4); le(z64, 8); le(1, 4);
        le(0x06054b50, 4); le(0, 4); le(0xffff, 2); le(0xffff, 2); le(0xffffffff, 4); le(0xffffffff, 4); le(0, 2);
        auto c = write("z64count.ckpt", body + rec);
        expect_error([&] { CkptFile::open(c); }, {c, "not a valid zip archive"});
    }
    std::string garbled = good;
    for (size_t i = garbled.rfind("PK\x01\x02"); i < garbled.size(); i += 7) garbled[i] = char(garbled[i] ^ 0x5a);
    auto g = write("garbled.ckpt", garbled);
    expect_error([&] { CkptFile::open(g); }, {g});
}

}  // namespace
