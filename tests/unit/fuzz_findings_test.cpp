// Regression tests for what the fuzz targets (tests/fuzz, docs/security.md) found; each input is also in
// the target's corpus, which the fuzz_corpus_* tests replay.
#include <cppunit/extensions/HelperMacros.h>

#include <jansson.h>

#include <string>

#include "core/api_json.hpp"
#include "core/encoding.hpp"

class FuzzFindingsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(FuzzFindingsTest);
    CPPUNIT_TEST(testJsonSyntaxErrorAnswerKeepsItsSentence);
    CPPUNIT_TEST_SUITE_END();

  public:
    // fuzz_api_json: Jansson quotes the text near a syntax error byte by byte, so a multi-byte character
    // right after a bad escape was cut in two ("near '\"J\\u0\xd0'"). That sentence is not UTF-8, Jansson
    // refused to encode it, and the API's 400 answer had no "error" member at all.
    void testJsonSyntaxErrorAnswerKeepsItsSentence() {
        sr::ApiCreateRequest request;
        const auto error = sr::parse_create_request("{\"patient_name\":\"J\\u0\xd0\x99rgen\"}", request);
        CPPUNIT_ASSERT(error && error->status == 400);
        CPPUNIT_ASSERT(sr::is_valid_utf8(error->error));
        CPPUNIT_ASSERT(error->error.find("not valid JSON") != std::string::npos);
        const std::string answer = sr::error_json(error->error, error->fields);
        json_error_t problem;
        json_t* document = json_loadb(answer.data(), answer.size(), 0, &problem);
        CPPUNIT_ASSERT(document);
        CPPUNIT_ASSERT(json_is_string(json_object_get(document, "error")));
        CPPUNIT_ASSERT_EQUAL(error->error,
                             std::string(json_string_value(json_object_get(document, "error"))));
        json_decref(document);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FuzzFindingsTest);
