// Running a command line in the end-to-end tests: exit code, stdout and stderr captured.
#pragma once
#include <string>

namespace sdpp::testing {

struct CliRun {
    int code = -1;    // exit status; -1 when the process did not exit normally
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs `command` through /bin/sh with stdout and stderr redirected to files in `scratch_dir`
// (removed afterwards).
CliRun run_shell(const std::string& command, const std::string& scratch_dir);
// `s` as one single-quoted /bin/sh word.
std::string shell_quote(const std::string& s);
// A whole file as bytes ("" when it cannot be read).
std::string read_file(const std::string& path);

}  // namespace sdpp::testing
