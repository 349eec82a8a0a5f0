// What happens to the numbers staff type into the form.
#include <cppunit/extensions/HelperMacros.h>

#include <phonenumbers/phonenumberutil.h>

#include "core/phone.hpp"
#include "core/redact.hpp"

#include <pqxx/except>

class PhoneTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PhoneTest);
    CPPUNIT_TEST(testNationalNumbersUseTheDefaultCountry);
    CPPUNIT_TEST(testInternationalNumbersIgnoreTheDefaultCountry);
    CPPUNIT_TEST(testNationalNumberWithoutDefaultCountryAsksForCountryCode);
    CPPUNIT_TEST(testLettersAndWrongLengthsAreRefused);
    CPPUNIT_TEST(testNewAreaCodeUnknownToOldMetadataNeedsConfirmationNotRejection);
    CPPUNIT_TEST(testEmptyNumberIsRequired);
    CPPUNIT_TEST(testNumbersLongerThanE164AllowsAreRefused);
    CPPUNIT_TEST(testValidExactlyWhenLibphonenumberSaysValidAndLandlinesAreFlagged);
    CPPUNIT_TEST(testLogsSeeMaskedNumbersOnly);
    CPPUNIT_TEST(testConninfoPasswordsAreMasked);
    CPPUNIT_TEST(testDatabaseErrorsAreLoggedWithoutRowData);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testNationalNumbersUseTheDefaultCountry() {
        for (const char* typed : {"(650) 253-0000", "650-253-0000", "6502530000", "1-650-253-0000"}) {
            const auto r = sr::normalize_phone(typed, "US");
            CPPUNIT_ASSERT_MESSAGE(typed, r.check == sr::PhoneCheck::Valid);
            CPPUNIT_ASSERT_EQUAL(std::string("+16502530000"), r.e164);
        }
        const auto london = sr::normalize_phone("020 7946 0123", "GB");
        CPPUNIT_ASSERT_EQUAL(std::string("+442079460123"), london.e164);
        CPPUNIT_ASSERT_EQUAL(std::string("GB"), london.region);
    }

    void testInternationalNumbersIgnoreTheDefaultCountry() {
        const auto r = sr::normalize_phone("+44 20 7946 0123", "US");
        CPPUNIT_ASSERT(r.check == sr::PhoneCheck::Valid);
        CPPUNIT_ASSERT_EQUAL(std::string("+442079460123"), r.e164);
    }

    void testNationalNumberWithoutDefaultCountryAsksForCountryCode() {
        const auto r = sr::normalize_phone("650 253 0000", "");
        CPPUNIT_ASSERT(r.check == sr::PhoneCheck::Invalid);
        CPPUNIT_ASSERT(r.problem.find("country code") != std::string::npos);
    }

    void testLettersAndWrongLengthsAreRefused() {
        CPPUNIT_ASSERT(sr::normalize_phone("not a number", "US").check == sr::PhoneCheck::Invalid);
        const auto short_number = sr::normalize_phone("123", "US");
        CPPUNIT_ASSERT(short_number.check == sr::PhoneCheck::Invalid);
        CPPUNIT_ASSERT(!short_number.problem.empty());
        CPPUNIT_ASSERT(sr::normalize_phone("+1 650 253 0000 0000 0000", "US").check ==
                       sr::PhoneCheck::Invalid);
    }

    void testNumbersLongerThanE164AllowsAreRefused() {
        // libphonenumber calls this 17-digit German number "possible"; E.164 (and the database) allow 15.
        const auto r = sr::normalize_phone("+49 301234567890123", "US");
        CPPUNIT_ASSERT(r.check == sr::PhoneCheck::Invalid);
        CPPUNIT_ASSERT_EQUAL(std::string("The number is too long."), r.problem);
        CPPUNIT_ASSERT(r.e164.empty());
    }

    void testNewAreaCodeUnknownToOldMetadataNeedsConfirmationNotRejection() {
        // 645 (Florida, opened 2023) is valid upstream but unknown to Debian 12's 2022 metadata.
        const auto r = sr::normalize_phone("(645) 555-0123", "US");
        CPPUNIT_ASSERT(r.check == sr::PhoneCheck::PossibleUnverified);
        CPPUNIT_ASSERT_EQUAL(std::string("+16455550123"), r.e164);
        CPPUNIT_ASSERT(r.problem.find("confirm") != std::string::npos);
    }

    // normalize_phone asks libphonenumber for the number type only; "valid" must still mean IsValidNumber.
    void testValidExactlyWhenLibphonenumberSaysValidAndLandlinesAreFlagged() {
        using i18n::phonenumbers::PhoneNumber;
        using i18n::phonenumbers::PhoneNumberUtil;
        const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
        const char* const numbers[] = {
            "+1 650 253 0000",  "+1 212 555 0123",  "(645) 555-0123",    "+1 800 555 0199",
            "+44 7700 900123",  "+44 20 7946 0018", "+49 1512 3456789",  "+49 30 901820",
            "+52 55 1234 5678", "+91 98765 43210",  "+61 412 345 678",   "+81 90 1234 5678",
            "+800 1234 5678",   "+882 3400 1234",   "+1 999 555 0123",   "+44 1234 0000",
            "+7 701 123 4567",  "+595 981 123456",  "+33 6 12 34 56 78", "+1 340 555 0123"};
        int valid = 0, unverified = 0;
        for (const char* typed : numbers) {
            const auto r = sr::normalize_phone(typed, "US");
            PhoneNumber number;
            CPPUNIT_ASSERT_MESSAGE(typed,
                                   util.Parse(typed, "US", &number) == PhoneNumberUtil::NO_PARSING_ERROR);
            if (r.check == sr::PhoneCheck::Invalid) {
                CPPUNIT_ASSERT_MESSAGE(
                    typed, util.IsPossibleNumberWithReason(number) != PhoneNumberUtil::IS_POSSIBLE);
                continue;
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(typed, util.IsValidNumber(number), r.check == sr::PhoneCheck::Valid);
            const bool landline = util.GetNumberType(number) == PhoneNumberUtil::FIXED_LINE;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(typed, landline, r.problem.find("landline") != std::string::npos);
            (r.check == sr::PhoneCheck::Valid ? valid : unverified)++;
        }
        CPPUNIT_ASSERT(valid >= 10);  // the list covers both outcomes
        CPPUNIT_ASSERT(unverified >= 2);
    }

    void testEmptyNumberIsRequired() {
        const auto r = sr::normalize_phone("   ", "US");
        CPPUNIT_ASSERT(r.check == sr::PhoneCheck::Invalid);
        CPPUNIT_ASSERT(r.problem.find("Enter") != std::string::npos);
    }

    void testLogsSeeMaskedNumbersOnly() {
        CPPUNIT_ASSERT_EQUAL(std::string("+1********67"), sr::mask_phone("+15551234567"));
        CPPUNIT_ASSERT(sr::mask_phone("+15551234567").find("555123") == std::string::npos);
    }

    void testConninfoPasswordsAreMasked() {
        CPPUNIT_ASSERT_EQUAL(std::string("host=db password=*** dbname=x"),
                             sr::mask_conninfo("host=db password=hunter2 dbname=x"));
        CPPUNIT_ASSERT_EQUAL(std::string("postgresql://app:***@db/x"),
                             sr::mask_conninfo("postgresql://app:hunter2@db/x"));
    }

    void testDatabaseErrorsAreLoggedWithoutRowData() {
        const pqxx::check_violation check(
            "ERROR:  new row for relation \"appointments\" violates check constraint "
            "\"appointments_phone_e164_format\"\nDETAIL:  Failing row contains (1, Long Number, Dr. L, "
            "+49301234567890123).\n",
            "INSERT INTO appointments ...", "23514");
        const std::string logged = sr::loggable_error(check);
        CPPUNIT_ASSERT_EQUAL(
            std::string("PostgreSQL error 23514 (constraint appointments_phone_e164_format)"), logged);
        const pqxx::unique_violation unique(
            "ERROR:  duplicate key value violates unique constraint \"x\"\n"
            "DETAIL:  Key (submission_key)=(secret) already exists.\n",
            "", "23505");
        CPPUNIT_ASSERT_EQUAL(std::string("PostgreSQL error 23505 (constraint x)"),
                             sr::loggable_error(unique));
        const pqxx::data_exception data("ERROR:  invalid input syntax for type uuid: \"Ada Lovelace\"\n", "",
                                        "22P02");
        CPPUNIT_ASSERT_EQUAL(std::string("PostgreSQL error 22P02"), sr::loggable_error(data));
        CPPUNIT_ASSERT_EQUAL(std::string("plain"), sr::loggable_error(std::runtime_error("plain")));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(PhoneTest);
