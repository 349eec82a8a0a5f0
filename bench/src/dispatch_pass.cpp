// sr-bench-dispatch: times dispatcher passes, the module's own Dispatcher::run_once, against a Sinch fake.
//
//   sr-bench-dispatch CONNINFO SINCH_BASE_URL PASSES   -> one JSON line per pass:
//       {"pass":N,"ms":T,"scheduled":S,"idle":B}
// After one warm-up pass it prints {"ready":true}, then runs one pass per line it reads on stdin, so the caller can store each pass's
// work first (bench/scale.py stores due reminders); a pass hands over whatever is due, at up to 1000/s. The
// Sinch fake is the tests' (service plan "test-plan", token "test-api-token").
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/curl_transport.hpp"
#include "core/dispatcher.hpp"
#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/sinch_client.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: sr-bench-dispatch CONNINFO SINCH_BASE_URL PASSES\n");
        return 2;
    }
    try {
        sr::NullLogger logger;
        sr::PgPoolConfig config;
        config.conninfo = argv[1];
        config.max_connections = 4;
        config.keep_idle = 4;
        sr::PgPool pool(config, logger);
        sr::SinchConfig sinch_config;
        sinch_config.mode = sr::SinchAuthMode::ServicePlan;
        sinch_config.service_plan_id = "test-plan";
        sinch_config.api_token = "test-api-token";
        sinch_config.sms_base_url = argv[2];
        sinch_config.from = "+15557654321";
        sr::CurlTransport transport;
        sr::SinchClient sinch(sinch_config, transport, logger);
        sr::DispatchSettings settings;
        settings.batches_per_second = 1000;
        settings.owner = "bench-dispatch:1";
        sr::Dispatcher dispatcher(pool, sinch, logger, settings);
        dispatcher.run_once();  // warm: connections, prepared statements, the token bucket
        std::printf("{\"ready\":true}\n");
        std::fflush(stdout);
        // One pass per line on stdin (the caller stores the pass's work first), one JSON line back each.
        const int passes = std::atoi(argv[3]);
        char line[64];
        for (int pass = 1; pass <= passes && std::fgets(line, sizeof line, stdin); ++pass) {
            const auto started = std::chrono::steady_clock::now();
            const sr::DispatchReport report = dispatcher.run_once();
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
            std::printf("{\"pass\":%d,\"ms\":%.3f,\"scheduled\":%d,\"idle\":%s}\n", pass, ms,
                        report.scheduled, report.idle() ? "true" : "false");
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sr-bench-dispatch: %s\n", e.what());
        return 1;
    }
}
