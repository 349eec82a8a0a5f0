// The form's security token: stateless, bound to the browser and the user, usable on every node.
#include <cppunit/extensions/HelperMacros.h>

#include <set>

#include "core/form_token.hpp"

namespace {
const std::string k_key(40, 'k');
const std::int64_t k_now = 1'800'000'000;
}  // namespace

class FormTokenTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(FormTokenTest);
    CPPUNIT_TEST(testIssuedTokenVerifiesOnAnotherNodeWithTheSameKey);
    CPPUNIT_TEST(testEachRenderedFormHasItsOwnSubmissionKey);
    CPPUNIT_TEST(testTokenFromAnotherBrowserOrUserIsRefused);
    CPPUNIT_TEST(testTokenIsBoundToItsAction);
    CPPUNIT_TEST(testTamperedTokenIsRefused);
    CPPUNIT_TEST(testOldTokenExpires);
    CPPUNIT_TEST(testMissingAndGarbageTokens);
    CPPUNIT_TEST(testShortKeyIsRefused);
    CPPUNIT_TEST(testRandomTokensAreUrlSafeAndDistinct);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testIssuedTokenVerifiesOnAnotherNodeWithTheSameKey() {
        const sr::FormTokens node_a(k_key, std::chrono::hours(12)), node_b(k_key, std::chrono::hours(12));
        const auto binding = sr::FormTokens::binding("cookie1", "alice", "book");
        const auto token = node_a.issue(binding, k_now);
        const auto verified = node_b.verify(token, binding, k_now + 60);
        CPPUNIT_ASSERT(verified.check == sr::TokenCheck::Valid);
        CPPUNIT_ASSERT(!verified.submission_key.empty());
        CPPUNIT_ASSERT(token.find(verified.submission_key) != std::string::npos);
    }

    void testEachRenderedFormHasItsOwnSubmissionKey() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        const auto binding = sr::FormTokens::binding("c", "", "book");
        const auto first = tokens.verify(tokens.issue(binding, k_now), binding, k_now);
        const auto second = tokens.verify(tokens.issue(binding, k_now), binding, k_now);
        CPPUNIT_ASSERT(first.submission_key != second.submission_key);
    }

    void testTokenFromAnotherBrowserOrUserIsRefused() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        const auto token = tokens.issue(sr::FormTokens::binding("cookie1", "alice", "book"), k_now);
        CPPUNIT_ASSERT(
            tokens.verify(token, sr::FormTokens::binding("cookie2", "alice", "book"), k_now).check ==
            sr::TokenCheck::BadSignature);
        CPPUNIT_ASSERT(
            tokens.verify(token, sr::FormTokens::binding("cookie1", "mallory", "book"), k_now).check ==
            sr::TokenCheck::BadSignature);
        const sr::FormTokens other_key(std::string(40, 'x'), std::chrono::hours(12));
        CPPUNIT_ASSERT(
            other_key.verify(token, sr::FormTokens::binding("cookie1", "alice", "book"), k_now).check ==
            sr::TokenCheck::BadSignature);
    }

    void testTokenIsBoundToItsAction() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        const auto cancel_a = tokens.issue(sr::FormTokens::binding("c", "alice", "cancel:a"), k_now);
        CPPUNIT_ASSERT(
            tokens.verify(cancel_a, sr::FormTokens::binding("c", "alice", "cancel:a"), k_now).check ==
            sr::TokenCheck::Valid);
        for (const char* other : {"cancel:b", "reschedule:a", "book"}) {
            CPPUNIT_ASSERT_MESSAGE(
                other, tokens.verify(cancel_a, sr::FormTokens::binding("c", "alice", other), k_now).check ==
                           sr::TokenCheck::BadSignature);
        }
        // The parts cannot be shifted into one another.
        const auto odd = tokens.issue(sr::FormTokens::binding("c", "book\nalice", "x"), k_now);
        CPPUNIT_ASSERT(tokens.verify(odd, sr::FormTokens::binding("c", "alice", "x\nbook"), k_now).check ==
                       sr::TokenCheck::BadSignature);
    }

    void testTamperedTokenIsRefused() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        const auto binding = sr::FormTokens::binding("c", "u", "book");
        std::string token = tokens.issue(binding, k_now);
        // Claim a later issue time to extend the token's life.
        const auto first_dot = token.find('.');
        token.replace(first_dot + 1, 10, std::to_string(k_now + 3600));
        CPPUNIT_ASSERT(tokens.verify(token, binding, k_now).check == sr::TokenCheck::BadSignature);
    }

    void testOldTokenExpires() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        const auto binding = sr::FormTokens::binding("c", "u", "book");
        const auto token = tokens.issue(binding, k_now);
        CPPUNIT_ASSERT(tokens.verify(token, binding, k_now + 12 * 3600).check == sr::TokenCheck::Valid);
        CPPUNIT_ASSERT(tokens.verify(token, binding, k_now + 12 * 3600 + 1).check == sr::TokenCheck::Expired);
        CPPUNIT_ASSERT(tokens.verify(token, binding, k_now - 3600).check == sr::TokenCheck::Expired);
    }

    void testMissingAndGarbageTokens() {
        const sr::FormTokens tokens(k_key, std::chrono::hours(12));
        CPPUNIT_ASSERT(tokens.verify("", "b", k_now).check == sr::TokenCheck::Missing);
        for (const char* garbage :
             {"v1", "v1.1.2", "v2.1.abc.def", "v1.x.abc.def", "v1.1.a b.c", "v1.1.abc.d=f"}) {
            CPPUNIT_ASSERT_MESSAGE(garbage,
                                   tokens.verify(garbage, "b", k_now).check == sr::TokenCheck::Malformed);
        }
        CPPUNIT_ASSERT(std::string(sr::describe(sr::TokenCheck::Expired)).find("too long ago") !=
                       std::string::npos);
    }

    void testShortKeyIsRefused() {
        CPPUNIT_ASSERT_THROW(sr::FormTokens("short", std::chrono::hours(1)), std::invalid_argument);
    }

    void testRandomTokensAreUrlSafeAndDistinct() {
        std::set<std::string> seen;
        for (int i = 0; i < 100; ++i) {
            const auto t = sr::random_token(16);
            CPPUNIT_ASSERT_EQUAL(std::size_t(22), t.size());
            CPPUNIT_ASSERT(
                t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                std::string::npos);
            seen.insert(t);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(100), seen.size());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(FormTokenTest);
