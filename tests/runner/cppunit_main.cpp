// CppUnit runner shared by the unit and component layers.
// Usage: sr_unit_tests [TestName ...]   (no names: run every registered test)
// SR_ENV_FILES=a:b loads KEY=VALUE lines (written by the service fixtures) into the environment.
#include <cppunit/CompilerOutputter.h>
#include <cppunit/extensions/TestFactoryRegistry.h>
#include <cppunit/ui/text/TestRunner.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

void load_env_files(const char* list) {
    if (!list) return;
    std::stringstream paths(list);
    std::string path;
    while (std::getline(paths, path, ':')) {
        std::ifstream in(path);
        if (!in) {
            std::cerr << "cannot read service env file " << path << " (did the fixture start?)\n";
            std::exit(2);
        }
        std::string line;
        while (std::getline(in, line)) {
            const auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), 1);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    load_env_files(std::getenv("SR_ENV_FILES"));
    CppUnit::TextUi::TestRunner runner;
    runner.addTest(CppUnit::TestFactoryRegistry::getRegistry().makeTest());
    runner.setOutputter(new CppUnit::CompilerOutputter(&runner.result(), std::cerr));
    bool ok = true;
    if (argc <= 1) {
        ok = runner.run("", false, true, true);
    } else {
        for (int i = 1; i < argc; ++i) ok = runner.run(argv[i], false, true, true) && ok;
    }
    return ok ? 0 : 1;
}
