// The staff pages: the shipped templates escape everything, keep typed values, label every field, and a
// broken template directory stops startup with a message naming the file.
#include <cppunit/extensions/HelperMacros.h>

#include "core/templates.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using sr::Page;
using sr::PageTemplates;
using sr::TemplateData;
using sr::TemplateError;
using sr::TemplateList;
using sr::TemplateObject;

const std::string kScript = "<script>alert(\"x\")</script>";
const std::string kScriptEscaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";
const std::string kQuotes = "O'Brien \"Bob\" & <b>Co</b>";
const std::string kQuotesEscaped = "O&apos;Brien &quot;Bob&quot; &amp; &lt;b&gt;Co&lt;/b&gt;";

// The repository's templates/: $SR_SOURCE_DIR (set by CTest), else relative to this file.
std::string shipped_template_directory() {
    const char* source_dir = std::getenv("SR_SOURCE_DIR");
    if (source_dir != nullptr && *source_dir != '\0') return std::string(source_dir) + "/templates";
    return (fs::path(__FILE__).parent_path() / ".." / ".." / "templates").lexically_normal().string();
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

size_t count(const std::string& haystack, const std::string& needle) {
    size_t found = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
        ++found;
    return found;
}

TemplateObject field(const std::string& value, const std::string& error = "") {
    return TemplateObject{{"value", value}, {"error", error}};
}

TemplateData form_data() {
    TemplateData page;
    page.set("page_title", "New appointment");
    page.set("clinic_name", "St. Mary's Clinic");
    page.set("time_zone", "America/New_York");
    page.set("time_zone_now", "Tue, Nov 24, 2026, 9:05 AM EST");
    page.set("lead_time_text", "2 hours");
    page.set("form_action", "/appointment");
    page.set("csrf_token", "tok.123");
    page.set("has_errors", false);
    page.set("errors", TemplateList{});
    page.set("patient_name", field("Ana Lopez"));
    page.set("doctor_name", field("Dr. Rivera"));
    page.set("phone", field("(212) 555-0123"));
    page.set("appointment_date", field("2026-11-28"));
    page.set("appointment_time", field("14:30"));
    page.set("phone_needs_confirmation", false);
    page.set("phone_warning", "");
    page.set("list_url", "/appointment/list");
    return page;
}

// Every field hostile, every field with an error that is hostile too.
TemplateData hostile_form_data() {
    TemplateData page = form_data();
    page.set("has_errors", true);
    TemplateList errors;
    errors.push_back(TemplateObject{{"message", "Summary " + kScript}});
    errors.push_back(TemplateObject{{"message", "Summary " + kQuotes}});
    page.set("errors", errors);
    page.set("patient_name", field(kScript, "Name error " + kScript));
    page.set("doctor_name", field(kQuotes, "Doctor error " + kQuotes));
    page.set("phone", field("\"><script>alert(1)</script>", "Phone error " + kScript));
    page.set("appointment_date", field(kQuotes, "Date error " + kScript));
    page.set("appointment_time", field(kScript, "Time error " + kQuotes));
    page.set("phone_needs_confirmation", true);
    page.set("phone_warning", "Warning " + kScript);
    return page;
}

TemplateData confirmation_data(bool is_problem) {
    TemplateData page;
    page.set("page_title", "Appointment booked");
    page.set("clinic_name", "St. Mary's Clinic");
    page.set("appointment", TemplateObject{{"id", "k3J9-x"},
                                           {"patient_name", kScript},
                                           {"doctor_name", kQuotes},
                                           {"phone_e164", "+12125550123"},
                                           {"local_time_text", "Sun, Mar 8, 2026, 3:30 AM EDT"},
                                           {"time_zone", "America/New_York"},
                                           {"utc_text", "2026-03-08 07:30 UTC"}});
    page.set("reminder", TemplateObject{{"local_time_text", "Sun, Mar 8, 2026, 1:30 AM EST"},
                                        {"utc_text", "2026-03-08 06:30 UTC"},
                                        {"batch_id", is_problem ? "" : "01HBATCH"},
                                        {"status", is_problem ? "failed" : "scheduled"},
                                        {"status_text", is_problem ? "Sinch refused the SMS " + kScript
                                                                   : "The reminder SMS is scheduled."},
                                        {"is_problem", is_problem}});
    TemplateList notices;
    notices.push_back(
        TemplateObject{{"message", "02:30 does not exist on 8 March; booked 03:30 EDT " + kScript}});
    page.set("notices", notices);
    page.set("new_url", "/appointment");
    page.set("list_url", "/appointment/list");
    return page;
}

TemplateData list_data(bool with_rows) {
    TemplateData page;
    page.set("page_title", "Scheduled appointments");
    page.set("clinic_name", "St. Mary's Clinic");
    page.set("filters",
             TemplateObject{{"from", "2026-11-28"}, {"to", kScript}, {"q", kQuotes}, {"status", ""}});
    TemplateList rows;
    if (with_rows) {
        rows.push_back(TemplateObject{{"url", "/appointment/k3J9-x"},
                                      {"patient_name", kScript},
                                      {"doctor_name", kQuotes},
                                      {"phone_masked", "+1212•••0123"},
                                      {"local_time_text", "Sat, Nov 28, 2026, 2:30 PM EST"},
                                      {"reminder_status", "failed"},
                                      {"reminder_status_text", "Not sent " + kScript},
                                      {"reminder_local_time_text", "12:30 PM EST"},
                                      {"is_problem", true}});
    }
    page.set("appointments", rows);
    page.set("has_appointments", with_rows);
    page.set("prev_url", "");
    page.set("next_url", "/appointment/list?page=2");
    page.set("new_url", "/appointment");
    return page;
}

// A scratch copy of the shipped templates that a test may break.
class ScratchDirectory {
  public:
    ScratchDirectory() {
        char pattern[] = "/tmp/sr-templates-XXXXXX";
        const char* created = mkdtemp(pattern);
        CPPUNIT_ASSERT(created != nullptr);
        path_ = created;
        for (const auto& entry : fs::directory_iterator(shipped_template_directory())) {
            fs::copy_file(entry.path(), fs::path(path_) / entry.path().filename());
        }
    }
    ~ScratchDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

    std::string read(const std::string& name) const {
        std::ifstream in(file(name));
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    void write(const std::string& name, const std::string& text) const { std::ofstream(file(name)) << text; }
    // Replaces the first `from` in `name` by `to`.
    void edit(const std::string& name, const std::string& from, const std::string& to) const {
        std::string text = read(name);
        const size_t at = text.find(from);
        CPPUNIT_ASSERT_MESSAGE(name + " lacks " + from, at != std::string::npos);
        write(name, text.replace(at, from.size(), to));
    }

  private:
    std::string path_;
};

// The TemplateError message from loading `directory`, or "" if it loads.
std::string load_error(const std::string& directory) {
    try {
        PageTemplates::load(directory);
    } catch (const TemplateError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

class TemplatesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TemplatesTest);
    CPPUNIT_TEST(testShippedTemplatesLoadAndAreWellFormedPages);
    CPPUNIT_TEST(testFormEscapesUserInputEverywhere);
    CPPUNIT_TEST(testFormKeepsTypedValuesInTheInputs);
    CPPUNIT_TEST(testEveryFormFieldHasALabelAndTheRightType);
    CPPUNIT_TEST(testErrorSummaryAndFieldErrorsOnlyWithErrors);
    CPPUNIT_TEST(testPhoneConfirmationCheckboxOnlyWhenAsked);
    CPPUNIT_TEST(testConfirmationEscapesAndShowsProblemsProminently);
    CPPUNIT_TEST(testErrorPageEscapesAndHidesEmptyBackLink);
    CPPUNIT_TEST(testListEscapesRowsAndFilters);
    CPPUNIT_TEST(testSyntaxErrorNamesFileAndLine);
    CPPUNIT_TEST(testMissingPageNamesTheFile);
    CPPUNIT_TEST(testMissingPartialNamesItAndTheIncludingPage);
    CPPUNIT_TEST(testRawOutputIsRefused);
    CPPUNIT_TEST(testUnknownKeyIsRefused);
    CPPUNIT_TEST(testSetDelimiterAndPartialCyclesAreRefused);
    CPPUNIT_TEST(testRenderingFromManyThreadsGivesTheSamePage);
    CPPUNIT_TEST(testCachedRenderIsTheFullRenderWithTheSlotValueEscaped);
    CPPUNIT_TEST(testCachedRenderBuildsOncePerKey);
    CPPUNIT_TEST(testStandalonePartialReplacesItsLineWithIndentation);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override {
        templates_.reset(new PageTemplates(PageTemplates::load(shipped_template_directory())));
    }
    void tearDown() override { templates_.reset(); }

    void testShippedTemplatesLoadAndAreWellFormedPages() {
        const std::vector<std::pair<Page, TemplateData>> pages = {
            {Page::Form, form_data()},
            {Page::Confirmation, confirmation_data(false)},
            {Page::Error, TemplateData()},
            {Page::List, list_data(true)}};
        for (const auto& [page, data] : pages) {
            const std::string html = templates_->render(page, data);
            const std::string name = sr::file_name(page);
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, "<!doctype html>"));
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, "<html lang=\"en\">"));
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, "<meta charset=\"utf-8\">"));
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, "name=\"viewport\""));
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, ":focus-visible"));
            CPPUNIT_ASSERT_MESSAGE(name, contains(html, "</html>"));
            // No JavaScript, no external resources, no template syntax left over.
            CPPUNIT_ASSERT_MESSAGE(name, !contains(html, "<script"));
            CPPUNIT_ASSERT_MESSAGE(name, !contains(html, "http://") && !contains(html, "https://"));
            CPPUNIT_ASSERT_MESSAGE(name, !contains(html, "{{") && !contains(html, "}}"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(name, size_t(1), count(html, "<main id=\"main\""));
        }
    }

    void testFormEscapesUserInputEverywhere() {
        const std::string html = templates_->render(Page::Form, hostile_form_data());
        CPPUNIT_ASSERT_MESSAGE(html, !contains(html, "<script"));
        CPPUNIT_ASSERT_MESSAGE(html, !contains(html, "<b>Co"));
        // In the summary, next to the fields, and in the value attributes.
        CPPUNIT_ASSERT(contains(html, "Summary " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "Summary " + kQuotesEscaped));
        CPPUNIT_ASSERT(contains(html, "Name error " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "Doctor error " + kQuotesEscaped));
        CPPUNIT_ASSERT(contains(html, "Phone error " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "Date error " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "Time error " + kQuotesEscaped));
        CPPUNIT_ASSERT(contains(html, "Warning " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "name=\"patient_name\" value=\"" + kScriptEscaped + "\""));
        CPPUNIT_ASSERT(contains(html, "name=\"doctor_name\" value=\"" + kQuotesEscaped + "\""));
        CPPUNIT_ASSERT(
            contains(html, "name=\"phone\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        CPPUNIT_ASSERT(contains(html, "name=\"appointment_date\" value=\"" + kQuotesEscaped + "\""));
        CPPUNIT_ASSERT(contains(html, "name=\"appointment_time\" value=\"" + kScriptEscaped + "\""));
    }

    void testFormKeepsTypedValuesInTheInputs() {
        const std::string html = templates_->render(Page::Form, form_data());
        CPPUNIT_ASSERT(contains(html, "name=\"patient_name\" value=\"Ana Lopez\""));
        CPPUNIT_ASSERT(contains(html, "name=\"doctor_name\" value=\"Dr. Rivera\""));
        CPPUNIT_ASSERT(contains(html, "name=\"phone\" value=\"(212) 555-0123\""));
        CPPUNIT_ASSERT(contains(html, "name=\"appointment_date\" value=\"2026-11-28\""));
        CPPUNIT_ASSERT(contains(html, "name=\"appointment_time\" value=\"14:30\""));
        CPPUNIT_ASSERT(contains(html, "<input type=\"hidden\" name=\"csrf_token\" value=\"tok.123\">"));
        CPPUNIT_ASSERT(contains(html, "<form method=\"post\" action=\"/appointment\""));
        CPPUNIT_ASSERT(contains(html, "America/New_York"));
        CPPUNIT_ASSERT(contains(html, "Tue, Nov 24, 2026, 9:05 AM EST"));
        CPPUNIT_ASSERT(contains(html, "2 hours before the appointment"));
        CPPUNIT_ASSERT(contains(html, "<a href=\"/appointment/list\">Scheduled appointments</a>"));
    }

    void testEveryFormFieldHasALabelAndTheRightType() {
        const std::string html = templates_->render(Page::Form, form_data());
        const std::vector<std::pair<std::string, std::string>> fields = {{"patient_name", "text"},
                                                                         {"doctor_name", "text"},
                                                                         {"phone", "tel"},
                                                                         {"appointment_date", "date"},
                                                                         {"appointment_time", "time"}};
        for (const auto& [name, type] : fields) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(name, size_t(1), count(html, "<label for=\"" + name + "\">"));
            CPPUNIT_ASSERT_MESSAGE(
                name, contains(html, "type=\"" + type + "\" id=\"" + name + "\" name=\"" + name + "\""));
        }
        CPPUNIT_ASSERT(contains(html, "pattern=\"[0-9]{4}-[0-9]{2}-[0-9]{2}\""));
        CPPUNIT_ASSERT(contains(html, "pattern=\"[0-9]{2}:[0-9]{2}\""));
        // Browsers must not offer one patient's name or number when the next patient is booked.
        CPPUNIT_ASSERT(contains(html, "autocomplete=\"off\""));
    }

    void testErrorSummaryAndFieldErrorsOnlyWithErrors() {
        const std::string clean = templates_->render(Page::Form, form_data());
        CPPUNIT_ASSERT(!contains(clean, "role=\"alert\""));
        CPPUNIT_ASSERT(!contains(clean, "aria-invalid"));
        CPPUNIT_ASSERT(!contains(clean, "class=\"field-error\""));
        CPPUNIT_ASSERT(!contains(clean, " has-error\""));

        TemplateData one_error = form_data();
        one_error.set("has_errors", true);
        TemplateList errors;
        errors.push_back(TemplateObject{{"message", "Enter the patient's mobile number."}});
        one_error.set("errors", errors);
        one_error.set("phone", field("", "Enter the patient's mobile number."));
        const std::string html = templates_->render(Page::Form, one_error);
        CPPUNIT_ASSERT_EQUAL(size_t(1), count(html, "role=\"alert\""));
        CPPUNIT_ASSERT(html.find("role=\"alert\"") < html.find("<form"));
        CPPUNIT_ASSERT_EQUAL(size_t(1), count(html, "aria-invalid=\"true\""));
        CPPUNIT_ASSERT(contains(html, "aria-describedby=\"phone-hint phone-error\""));
        CPPUNIT_ASSERT(contains(html, "id=\"phone-error\""));
        CPPUNIT_ASSERT_EQUAL(size_t(2), count(html, "Enter the patient&apos;s mobile number."));
        // The error sits between the field's label and its input.
        const size_t label = html.find("<label for=\"phone\">");
        const size_t message = html.find("id=\"phone-error\"");
        const size_t input = html.find("id=\"phone\" name=\"phone\"");
        CPPUNIT_ASSERT(label < message && message < input);
        // Other fields stay unmarked.
        CPPUNIT_ASSERT(!contains(html, "id=\"patient_name-error\""));
    }

    void testPhoneConfirmationCheckboxOnlyWhenAsked() {
        const std::string checkbox =
            "<input type=\"checkbox\" id=\"phone_confirmed\" name=\"phone_confirmed\" value=\"1\">";
        CPPUNIT_ASSERT(!contains(templates_->render(Page::Form, form_data()), "phone_confirmed"));

        TemplateData asked = form_data();
        asked.set("phone_needs_confirmation", true);
        asked.set("phone_warning", "This number is not in the phone metadata. Check it with the patient.");
        const std::string html = templates_->render(Page::Form, asked);
        CPPUNIT_ASSERT(contains(html, checkbox));
        CPPUNIT_ASSERT(
            contains(html, "<label for=\"phone_confirmed\">I checked this number with the patient</label>"));
        CPPUNIT_ASSERT(contains(html, "This number is not in the phone metadata."));
        CPPUNIT_ASSERT(contains(html, "aria-describedby=\"phone-hint phone-warning\""));
    }

    void testConfirmationEscapesAndShowsProblemsProminently() {
        const std::string fine = templates_->render(Page::Confirmation, confirmation_data(false));
        CPPUNIT_ASSERT(!contains(fine, "<script"));
        CPPUNIT_ASSERT(contains(fine, kScriptEscaped));
        CPPUNIT_ASSERT(contains(fine, kQuotesEscaped));
        CPPUNIT_ASSERT(contains(fine, "+12125550123"));
        CPPUNIT_ASSERT(contains(fine, "Sun, Mar 8, 2026, 3:30 AM EDT"));
        CPPUNIT_ASSERT(contains(fine, "2026-03-08 06:30 UTC"));
        CPPUNIT_ASSERT(contains(fine, "01HBATCH"));
        CPPUNIT_ASSERT(contains(fine, "booked 03:30 EDT " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(fine, "role=\"status\""));
        CPPUNIT_ASSERT(!contains(fine, "role=\"alert\""));
        CPPUNIT_ASSERT(
            contains(fine, "<a class=\"button\" href=\"/appointment\">Book another appointment</a>"));
        CPPUNIT_ASSERT(contains(fine, "href=\"/appointment/list\""));

        const std::string problem = templates_->render(Page::Confirmation, confirmation_data(true));
        CPPUNIT_ASSERT(!contains(problem, "<script"));
        CPPUNIT_ASSERT_EQUAL(size_t(1), count(problem, "role=\"alert\""));
        CPPUNIT_ASSERT(contains(problem, "Sinch refused the SMS " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(problem, "none yet"));
        CPPUNIT_ASSERT(contains(problem, "<code class=\"status problem\">failed</code>"));
    }

    void testErrorPageEscapesAndHidesEmptyBackLink() {
        TemplateData page;
        page.set("page_title", "Service unavailable");
        page.set("status", "503");
        page.set("title", "The appointment system is unavailable " + kScript);
        page.set("message", "Nothing was booked. " + kQuotes);
        page.set("back_url", "/appointment");
        const std::string html = templates_->render(Page::Error, page);
        CPPUNIT_ASSERT(!contains(html, "<script"));
        CPPUNIT_ASSERT(contains(html, "Error 503"));
        CPPUNIT_ASSERT(contains(html, "unavailable " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "Nothing was booked. " + kQuotesEscaped));
        CPPUNIT_ASSERT(contains(html, "href=\"/appointment\">Back</a>"));

        page.set("back_url", "");
        CPPUNIT_ASSERT(!contains(templates_->render(Page::Error, page), ">Back</a>"));
    }

    void testListEscapesRowsAndFilters() {
        const std::string html = templates_->render(Page::List, list_data(true));
        CPPUNIT_ASSERT(!contains(html, "<script"));
        CPPUNIT_ASSERT(contains(html, "<td>" + kScriptEscaped + "</td>"));
        CPPUNIT_ASSERT(contains(html, "<td>" + kQuotesEscaped + "</td>"));
        CPPUNIT_ASSERT(contains(html, "name=\"to\" value=\"" + kScriptEscaped + "\""));
        CPPUNIT_ASSERT(contains(html, "name=\"q\" value=\"" + kQuotesEscaped + "\""));
        CPPUNIT_ASSERT(contains(html, "Problem: Not sent " + kScriptEscaped));
        CPPUNIT_ASSERT(contains(html, "href=\"/appointment/list?page=2\">Next</a>"));
        CPPUNIT_ASSERT(!contains(html, ">Previous</a>"));
        for (const char* label : {"from", "to", "q", "status"}) {
            CPPUNIT_ASSERT_MESSAGE(label, contains(html, "<label for=\"" + std::string(label) + "\">"));
        }

        const std::string empty = templates_->render(Page::List, list_data(false));
        CPPUNIT_ASSERT(contains(empty, "No appointments match these filters."));
        CPPUNIT_ASSERT(!contains(empty, "<table"));
    }

    void testSyntaxErrorNamesFileAndLine() {
        ScratchDirectory scratch;
        scratch.edit("form.html", "{{/has_errors}}", "");
        const std::string message = load_error(scratch.path());
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, scratch.file("form.html") + ":"));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "Unclosed section \"has_errors\""));
        // file:line:column, pointing at the opening tag.
        const std::string text = scratch.read("form.html");
        const size_t tag = text.find("{{#has_errors}}");
        const auto line = 1 + std::count(text.begin(), text.begin() + tag, '\n');
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "form.html:" + std::to_string(line) + ":1: "));

        ScratchDirectory unclosed_tag;
        unclosed_tag.write("confirmation.html", unclosed_tag.read("confirmation.html") + "{{oops");
        const std::string tag_message = load_error(unclosed_tag.path());
        CPPUNIT_ASSERT_MESSAGE(tag_message,
                               contains(tag_message, unclosed_tag.file("confirmation.html") + ":"));
        CPPUNIT_ASSERT_MESSAGE(tag_message, contains(tag_message, "Unclosed tag"));
    }

    void testMissingPageNamesTheFile() {
        ScratchDirectory scratch;
        fs::remove(scratch.file("list.html"));
        const std::string message = load_error(scratch.path());
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, scratch.file("list.html")));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "No such file"));

        const std::string no_directory = load_error("/nonexistent/sr-templates");
        CPPUNIT_ASSERT_MESSAGE(no_directory, contains(no_directory, "/nonexistent/sr-templates/form.html"));
    }

    void testMissingPartialNamesItAndTheIncludingPage() {
        ScratchDirectory scratch;
        fs::remove(scratch.file("layout_head.html"));
        const std::string message = load_error(scratch.path());
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, scratch.file("layout_head.html")));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "partial used by " + scratch.file("form.html")));

        ScratchDirectory traversal;
        traversal.edit("error.html", "{{> layout_foot}}", "{{> ../secrets}}");
        const std::string traversal_message = load_error(traversal.path());
        CPPUNIT_ASSERT_MESSAGE(traversal_message, contains(traversal_message, "error.html:"));
        CPPUNIT_ASSERT_MESSAGE(traversal_message, contains(traversal_message, "partial name '../secrets'"));
    }

    void testRawOutputIsRefused() {
        for (const std::string raw :
             {"{{{patient_name.value}}}", "{{& patient_name.value}}", "{{&patient_name.value}}"}) {
            ScratchDirectory scratch;
            scratch.edit("form.html", "{{patient_name.value}}", raw);
            const std::string message = load_error(scratch.path());
            CPPUNIT_ASSERT_MESSAGE(raw + ": " + message, contains(message, scratch.file("form.html") + ":"));
            CPPUNIT_ASSERT_MESSAGE(raw + ": " + message,
                                   contains(message, "raw output of 'patient_name.value'"));
        }
        // Also in a partial.
        ScratchDirectory partial;
        partial.edit("layout_head.html", "<title>{{page_title}}</title>", "<title>{{{page_title}}}</title>");
        const std::string message = load_error(partial.path());
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "layout_head.html:"));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "raw output of 'page_title'"));
    }

    void testUnknownKeyIsRefused() {
        ScratchDirectory scratch;
        scratch.edit("form.html", "{{patient_name.value}}", "{{patient_nmae.value}}");
        const std::string message = load_error(scratch.path());
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "form.html:"));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "unknown key 'patient_nmae.value'"));

        // A partial is checked against every page that includes it: error.html has no clinic_name.
        ScratchDirectory partial;
        partial.edit("layout_head.html", "<title>{{page_title}}</title>", "<title>{{clinic_name}}</title>");
        const std::string partial_message = load_error(partial.path());
        CPPUNIT_ASSERT_MESSAGE(partial_message, contains(partial_message, "layout_head.html:"));
        CPPUNIT_ASSERT_MESSAGE(partial_message, contains(partial_message, "for error.html"));
    }

    void testSetDelimiterAndPartialCyclesAreRefused() {
        ScratchDirectory delimiters;
        delimiters.edit("error.html", "{{> layout_head}}", "{{> layout_head}}{{=<% %>=}}");
        const std::string message = load_error(delimiters.path());
        CPPUNIT_ASSERT_MESSAGE(message,
                               contains(message, "error.html:") && contains(message, "set-delimiter"));

        ScratchDirectory cycle;
        cycle.edit("layout_foot.html", "</body>", "{{> layout_foot}}</body>");
        const std::string cycle_message = load_error(cycle.path());
        CPPUNIT_ASSERT_MESSAGE(cycle_message, contains(cycle_message, "layout_foot.html:"));
        CPPUNIT_ASSERT_MESSAGE(cycle_message, contains(cycle_message, "includes itself"));
    }

    void testRenderingFromManyThreadsGivesTheSamePage() {
        const TemplateData data = hostile_form_data();
        const std::string expected = templates_->render(Page::Form, data);
        std::vector<int> mismatches(8, 0);
        std::vector<std::thread> threads;
        for (size_t t = 0; t < mismatches.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 30; ++i) {
                    if (templates_->render(Page::Form, data) != expected) ++mismatches[t];
                }
            });
        }
        for (std::thread& thread : threads) thread.join();
        for (const int mismatch : mismatches) CPPUNIT_ASSERT_EQUAL(0, mismatch);
    }

    void testCachedRenderIsTheFullRenderWithTheSlotValueEscaped() {
        for (const std::string token : {"v1.abc-DEF_123", "<b>\"it's\"&</b>"}) {
            TemplateData full = form_data();
            full.set("csrf_token", token);
            const std::string cached = templates_->render_cached(
                Page::Form, "blank", [] { return form_data(); }, "csrf_token", token);
            CPPUNIT_ASSERT_EQUAL(templates_->render(Page::Form, full), cached);
        }
        const std::string html = templates_->render_cached(
            Page::Form, "blank", [] { return form_data(); }, "csrf_token", "<x>");
        CPPUNIT_ASSERT_MESSAGE(html, contains(html, "&lt;x&gt;") && !contains(html, "<x>"));
    }

    void testCachedRenderBuildsOncePerKey() {
        int builds = 0;
        auto build = [&builds] {
            ++builds;
            return form_data();
        };
        templates_->render_cached(Page::Form, "minute 1", build, "csrf_token", "a");
        templates_->render_cached(Page::Form, "minute 1", build, "csrf_token", "b");
        CPPUNIT_ASSERT_EQUAL(1, builds);
        TemplateData other = form_data();
        other.set("clinic_name", "Other Clinic");
        const std::string html = templates_->render_cached(
            Page::Form, "minute 2",
            [&] {
                ++builds;
                return other;
            },
            "csrf_token", "c");
        CPPUNIT_ASSERT_EQUAL(2, builds);
        CPPUNIT_ASSERT_MESSAGE(html, contains(html, "Other Clinic"));
    }

    void testStandalonePartialReplacesItsLineWithIndentation() {
        const ScratchDirectory dir;
        dir.write("layout_head.html", "<header>{{page_title}}</header>\n<nav></nav>\n");
        dir.write("form.html", "<body>\n  {{> layout_head}}\n<p>x {{> layout_head}}</p>\n</body>\n");
        TemplateData data;
        data.set("page_title", "Title");
        const std::string html = PageTemplates::load(dir.path()).render(Page::Form, data);
        CPPUNIT_ASSERT_EQUAL(std::string("<body>\n  <header>Title</header>\n  <nav></nav>\n"
                                         "<p>x <header>Title</header>\n<nav></nav>\n</p>\n</body>\n"),
                             html);
    }

  private:
    std::unique_ptr<PageTemplates> templates_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(TemplatesTest);
