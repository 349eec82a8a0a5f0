// core/encoding: base64 (OpenSSL), percent-encoding (libcurl) and UTF-8 checks (ICU), with the outputs
// the hand-written encoders they replaced produced (form tokens and links stay valid across an upgrade).
#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "core/encoding.hpp"
#include "core/sms_text.hpp"

using namespace std::string_literals;

class EncodingTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(EncodingTest);
    CPPUNIT_TEST(testBase64Rfc4648Vectors);
    CPPUNIT_TEST(testBase64UrlHasNoPaddingAndTheUrlAlphabet);
    CPPUNIT_TEST(testPercentEncodingKeepsOnlyUnreservedCharacters);
    CPPUNIT_TEST(testFormEncodingWritesSpacesAsPlus);
    CPPUNIT_TEST(testUtf8BoundariesOfTheUnicodeTable);
    CPPUNIT_TEST(testMalformedUtf8CountsOneReplacementPerByteInSms);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testBase64Rfc4648Vectors() {
        CPPUNIT_ASSERT_EQUAL(""s, sr::base64(""));
        CPPUNIT_ASSERT_EQUAL("Zg=="s, sr::base64("f"));
        CPPUNIT_ASSERT_EQUAL("Zm8="s, sr::base64("fo"));
        CPPUNIT_ASSERT_EQUAL("Zm9v"s, sr::base64("foo"));
        CPPUNIT_ASSERT_EQUAL("Zm9vYg=="s, sr::base64("foob"));
        CPPUNIT_ASSERT_EQUAL("Zm9vYmE="s, sr::base64("fooba"));
        CPPUNIT_ASSERT_EQUAL("Zm9vYmFy"s, sr::base64("foobar"));
        // Binary input with NUL bytes, and no line breaks however long.
        CPPUNIT_ASSERT_EQUAL("AP8A"s, sr::base64("\0\xff\0"s));
        const std::string long_text = sr::base64(std::string(300, 'x'));
        CPPUNIT_ASSERT_EQUAL(std::string::size_type(400), long_text.size());
        CPPUNIT_ASSERT(long_text.find('\n') == std::string::npos);
    }

    void testBase64UrlHasNoPaddingAndTheUrlAlphabet() {
        CPPUNIT_ASSERT_EQUAL("-_-_"s, sr::base64url("\xfb\xff\xbf"s));
        CPPUNIT_ASSERT_EQUAL("-_8"s, sr::base64url("\xfb\xff"s));
        CPPUNIT_ASSERT_EQUAL("Zg"s, sr::base64url("f"));
        CPPUNIT_ASSERT_EQUAL(""s, sr::base64url(""));
        const unsigned char bytes[] = {0x00, 0x10, 0x83};
        CPPUNIT_ASSERT_EQUAL("ABCD"s, sr::base64url(bytes, sizeof bytes));
    }

    void testPercentEncodingKeepsOnlyUnreservedCharacters() {
        CPPUNIT_ASSERT_EQUAL(""s, sr::percent_encode(""));
        CPPUNIT_ASSERT_EQUAL("AZaz09-._~"s, sr::percent_encode("AZaz09-._~"));
        CPPUNIT_ASSERT_EQUAL("a%20b%2B%3A%2F~-._%2520%C3%A9"s, sr::percent_encode("a b+:/~-._%20é"));
        CPPUNIT_ASSERT_EQUAL("%00%FF"s, sr::percent_encode("\0\xff"s));  // a NUL is a byte like any other
        CPPUNIT_ASSERT_EQUAL("2026-11-28T19%3A30%3A00.000Z"s, sr::percent_encode("2026-11-28T19:30:00.000Z"));
    }

    void testFormEncodingWritesSpacesAsPlus() {
        CPPUNIT_ASSERT_EQUAL("a+b%2B%26%3D"s, sr::url_encode("a b+&="));
        // A literal "%20" is not a space.
        CPPUNIT_ASSERT_EQUAL("a+b%2B%3A%2F~-._%2520%C3%A9"s, sr::url_encode("a b+:/~-._%20é"));
        CPPUNIT_ASSERT_EQUAL("++"s, sr::url_encode("  "));
        CPPUNIT_ASSERT_EQUAL(""s, sr::url_encode(""));
    }

    void testUtf8BoundariesOfTheUnicodeTable() {
        // Well-formed (Unicode 15, table 3-7): the first and last code point of each row.
        for (const std::string& ok :
             {""s, "\0"s, "\x7f"s, "\xc2\x80"s, "\xdf\xbf"s, "\xe0\xa0\x80"s, "\xed\x9f\xbf"s,
              "\xee\x80\x80"s, "\xef\xbf\xbf"s, "\xf0\x90\x80\x80"s, "\xf4\x8f\xbf\xbf"s, "日本語 ✓"s}) {
            CPPUNIT_ASSERT_MESSAGE(ok, sr::is_valid_utf8(ok));
        }
        for (const std::string& bad : {
                 "\x80"s,              // a lone trail byte
                 "\xc0\xaf"s,          // overlong '/'
                 "\xc1\xbf"s,          // overlong
                 "\xe0\x9f\xbf"s,      // overlong U+07FF
                 "\xed\xa0\x80"s,      // a surrogate
                 "\xed\xbf\xbf"s,      // a surrogate
                 "\xf0\x8f\xbf\xbf"s,  // overlong U+FFFF
                 "\xf4\x90\x80\x80"s,  // past U+10FFFF
                 "\xf5\x80\x80\x80"s, "\xfe"s, "\xff"s,
                 "\xe2\x82"s,  // truncated
                 "ok\xc3"s,    // truncated at the end
                 "\xc3("s,     // a lead byte without its trail
             }) {
            CPPUNIT_ASSERT_MESSAGE(bad, !sr::is_valid_utf8(bad));
        }
    }

    void testMalformedUtf8CountsOneReplacementPerByteInSms() {
        // Each byte of an ill-formed sequence counts as one U+FFFD: "\xe2\x82" is two UCS-2 units, not one.
        const sr::SmsEncoding truncated = sr::analyse_sms("\xe2\x82");
        CPPUNIT_ASSERT(!truncated.gsm7);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), truncated.units);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), sr::analyse_sms("\xed\xa0\x80").units);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), sr::analyse_sms("\xf0\x9f\x98\x80").units);  // a surrogate pair
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(EncodingTest);
