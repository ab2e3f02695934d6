#include "common/cli_run.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

namespace sdpp::testing {

std::string read_file(const std::string& path) {
    std::ifstream is(path, std::ios::binary);
    std::stringstream ss;
    ss << is.rdbuf();
    return ss.str();
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

CliRun run_shell(const std::string& command, const std::string& scratch_dir) {
    const std::string out = scratch_dir + "/cli_stdout.txt", err = scratch_dir + "/cli_stderr.txt";
    int st = std::system((command + " > '" + out + "' 2> '" + err + "'").c_str());
    CliRun r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    std::remove(out.c_str());
    std::remove(err.c_str());
    return r;
}

}  // namespace sdpp::testing
