#pragma once
// A fresh migrated database with a pool, and a Sinch client talking to the (reset) Sinch fake: what
// the dispatcher and staff-operation component tests start every test from.
#include <cppunit/TestFixture.h>

#include <memory>

#include "core/curl_transport.hpp"
#include "core/pg_pool.hpp"
#include "core/sinch_client.hpp"
#include "pg_test_db.hpp"
#include "sinch_fake_control.hpp"

namespace sr::test {

class StoreAndSinchFixture : public CppUnit::TestFixture {
  public:
    void setUp() override {
        m_db = std::make_unique<TestDatabase>();
        sr::PgPoolConfig config;
        config.conninfo = m_db->conninfo();
        config.max_connections = 8;
        m_pool = std::make_unique<sr::PgPool>(config, m_logger);
        m_fake.reset();
        m_transport = std::make_unique<sr::CurlTransport>();
        auto sinch_config = m_fake.service_plan_config();
        sinch_config.total_timeout_ms = 1500;
        m_sinch = std::make_unique<sr::SinchClient>(sinch_config, *m_transport, m_logger);
    }

    void tearDown() override {
        m_sinch.reset();
        m_pool.reset();
        m_db.reset();
    }

  protected:
    CapturingLogger m_logger;  // NB: declared first, so it outlives everything that logs to it
    FakeControl m_fake;
    std::unique_ptr<TestDatabase> m_db;
    std::unique_ptr<sr::PgPool> m_pool;
    std::unique_ptr<sr::CurlTransport> m_transport;
    std::unique_ptr<sr::SinchClient> m_sinch;
};

}  // namespace sr::test
