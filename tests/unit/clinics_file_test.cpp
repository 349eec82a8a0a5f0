// The clinics file httpd writes for sinch-reminder-admin (core/clinics_file.hpp): it reads back what was
// written, holds no secret of the connection string, and a missing or unknown clinic is a clear error.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clinics_file.hpp"

namespace {

sr::ClinicRecord record(const std::string& key, const std::string& database, const std::string& zone) {
    sr::ClinicRecord r;
    r.key = key;
    r.database = database;
    r.server = "127.0.0.1 (httpd.conf:1)";
    r.mounts = {"/" + key};
    r.clinic_name = "Clinic \"" + key + "\"";
    r.time_zone = zone;
    r.locale = "en_GB";
    r.message = "{{clinic}}: {{doctor}} on {{date_time}}. Reply STOP to opt out.";
    r.lead_time = std::chrono::hours(24);
    r.quiet_hours = sr::parse_quiet_hours("21:00-08:00");
    return r;
}

std::string error_of(const std::vector<sr::ClinicRecord>& clinics, const std::string& key,
                     const std::string& database) {
    try {
        sr::find_clinic(clinics, key, database, "/run/x.json");
    } catch (const sr::ClinicsFileError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

class ClinicsFileTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ClinicsFileTest);
    CPPUNIT_TEST(testWrittenFileReadsBackTheSame);
    CPPUNIT_TEST(testDatabaseIdentityHasNoSecrets);
    CPPUNIT_TEST(testUnknownClinicNamesTheKnownOnes);
    CPPUNIT_TEST(testSameKeyOnTwoDatabasesIsPickedByDatabase);
    CPPUNIT_TEST(testMissingOrForeignFileIsAClearError);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testWrittenFileReadsBackTheSame() {
        char dir[] = "/tmp/sr-clinics-XXXXXX";
        CPPUNIT_ASSERT(mkdtemp(dir));
        const std::string path = std::string(dir) + "/clinics.json";
        const mode_t old_mask = umask(077);
        sr::write_clinics_file(path,
                               {record("north", "host=db dbname=r", "America/Chicago"),
                                record("south", "host=db dbname=r", "Europe/London")},
                               "test");
        umask(old_mask);
        struct stat info {};
        CPPUNIT_ASSERT_EQUAL(0, stat(path.c_str(), &info));
        CPPUNIT_ASSERT_EQUAL(static_cast<mode_t>(0644), static_cast<mode_t>(info.st_mode & 0777));
        const std::vector<sr::ClinicRecord> back = sr::read_clinics_file(path);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), back.size());
        const sr::ClinicRecord& south = sr::find_clinic(back, "south", "", path);
        CPPUNIT_ASSERT_EQUAL(std::string("Europe/London"), south.time_zone);
        CPPUNIT_ASSERT_EQUAL(std::string("Clinic \"south\""), south.clinic_name);
        CPPUNIT_ASSERT_EQUAL(std::string("en_GB"), south.locale);
        CPPUNIT_ASSERT_EQUAL(record("s", "", "").message, south.message);
        CPPUNIT_ASSERT_EQUAL(static_cast<long long>(86400), static_cast<long long>(south.lead_time.count()));
        CPPUNIT_ASSERT(south.quiet_hours == sr::parse_quiet_hours("21:00-08:00"));
        CPPUNIT_ASSERT_EQUAL(std::string("/south"), south.mounts.at(0));
        std::remove(path.c_str());
        rmdir(dir);
    }

    void testDatabaseIdentityHasNoSecrets() {
        CPPUNIT_ASSERT_EQUAL(std::string("host=db.example port=5433 dbname=reminders"),
                             sr::database_identity("host=db.example port=5433 dbname=reminders user=owner "
                                                   "password=s3cret sslmode=require"));
        // The runtime role and the owner reach one database: the same identity.
        CPPUNIT_ASSERT_EQUAL(
            sr::database_identity("host=db.example port=5433 dbname=reminders user=sr_runtime"),
            sr::database_identity("postgresql://owner:pw@db.example:5433/reminders"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), sr::database_identity("this is = not 'a conninfo"));
    }

    void testUnknownClinicNamesTheKnownOnes() {
        const std::vector<sr::ClinicRecord> clinics = {record("north", "dbname=r", "America/Chicago"),
                                                       record("south", "dbname=r", "Europe/London")};
        const std::string error = error_of(clinics, "radiology", "dbname=r");
        CPPUNIT_ASSERT_MESSAGE(error,
                               error.find("clinic 'radiology' is not in /run/x.json") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(error, error.find("the clinics: north, south") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(error_of({}, "north", ""),
                               error_of({}, "north", "").find("has no clinic") != std::string::npos);
    }

    void testSameKeyOnTwoDatabasesIsPickedByDatabase() {
        const std::vector<sr::ClinicRecord> clinics = {record("north", "dbname=a", "America/Chicago"),
                                                       record("north", "dbname=b", "Europe/London")};
        CPPUNIT_ASSERT_EQUAL(std::string("Europe/London"),
                             sr::find_clinic(clinics, "north", "dbname=b", "f").time_zone);
        const std::string error = error_of(clinics, "north", "dbname=c");
        CPPUNIT_ASSERT_MESSAGE(error, error.find("several databases") != std::string::npos);
    }

    void testMissingOrForeignFileIsAClearError() {
        try {
            sr::read_clinics_file("/nonexistent/clinics.json");
            CPPUNIT_FAIL("a missing file was read");
        } catch (const sr::ClinicsFileError& e) {
            CPPUNIT_ASSERT_MESSAGE(
                e.what(), std::string(e.what()).find("cannot read the clinics file "
                                                     "/nonexistent/clinics.json") != std::string::npos);
        }
        for (const char* text : {"not json", "{\"format\": 1}", "{\"format\": 99, \"clinics\": []}",
                                 "{\"format\": 1, \"clinics\": [{\"key\": \"x\"}]}"}) {
            try {
                sr::parse_clinics_file(text, "f.json");
                CPPUNIT_FAIL(std::string("parsed: ") + text);
            } catch (const sr::ClinicsFileError& e) {
                CPPUNIT_ASSERT_MESSAGE(e.what(), std::string(e.what()).find("f.json") != std::string::npos);
            }
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ClinicsFileTest);
