// Subcommands register themselves: each apps/cli/cmd_<name>.cpp defines a static Command, so
// commands live in their own files and main.cpp never changes when one is added.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace sdpp::cli {

// Called after parsing when this subcommand was chosen; returns the exit code.
using CommandRun = std::function<int()>;

struct Command {
    std::string name;
    std::string help;
    // Adds options to the subcommand and returns what to run (options bind to state it captures).
    std::function<CommandRun(CLI::App&)> setup;
    std::vector<std::string> aliases = {};
};

// Usage: static const bool registered = register_command({"inspect", "...", setup_inspect});
bool register_command(Command c);
const std::vector<Command>& commands();

// Exit codes: 0 ok, 1 internal failure, 2 usage or input error (sdpp::Error), 130 cancelled.
constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

}  // namespace sdpp::cli
