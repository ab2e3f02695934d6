// The `sdpp` command: dispatches to the registered subcommands. Every sdpp::Error becomes one line
// on stderr and exit code 2; anything unexpected is exit code 1.
#include "cli/command.h"
#include "cli/wait_policy.h"

#include <sdpp/error.hpp>
#include <sdpp/version.h>

#include <cstdio>
#include <map>
#include <new>
#include <string>

namespace sdpp::cli {

namespace {
std::vector<Command>& registry() {
    static std::vector<Command> r;
    return r;
}
}  // namespace

bool register_command(Command c) {
    registry().push_back(std::move(c));
    return true;
}
const std::vector<Command>& commands() { return registry(); }

}  // namespace sdpp::cli

int main(int argc, char** argv) {
    using namespace sdpp::cli;
    choose_wait_policy(argv);
    CLI::App app{"sdpp: Stable Diffusion in C++ (SD 1.x, SD 2.x, SDXL)", "sdpp"};
    app.require_subcommand(1);
    if (argc <= 1) {  // bare `sdpp`: show what it can do instead of an error
        for (const Command& c : commands()) app.add_subcommand(c.name, c.help);
        std::fputs(app.help().c_str(), stdout);
        return kExitUsage;
    }
    // A word that names no subcommand is a typo, not a missing subcommand (CLI11's message).
    if (const std::string first = argv[1]; !first.empty() && first[0] != '-') {
        std::string known;
        bool found = false;
        for (const Command& c : commands()) {
            found = found || c.name == first;
            for (const std::string& alias : c.aliases) found = found || alias == first;
            known += (known.empty() ? "" : ", ") + c.name;
        }
        if (!found) {
            std::fprintf(stderr, "error: unknown subcommand '%s' (known: %s; see sdpp --help)\n", first.c_str(), known.c_str());
            return kExitUsage;
        }
    }
    app.set_version_flag("--version", "sdpp " SDPP_VERSION_STRING);

    std::map<CLI::App*, CommandRun> runs;
    for (const Command& c : commands()) {
        CLI::App* sub = app.add_subcommand(c.name, c.help);
        for (auto& a : c.aliases) sub->alias(a);
        runs[sub] = c.setup(*sub);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return 0;
        std::fprintf(stderr, "error: %s (see --help)\n", e.what());
        return kExitUsage;
    }
    try {
        for (auto& [sub, run] : runs)
            if (sub->parsed()) return run();
        return kExitUsage;
    } catch (const sdpp::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return kExitUsage;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory\n");
        return kExitFailure;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "internal error: %s\n", e.what());
        return kExitFailure;
    }
}
