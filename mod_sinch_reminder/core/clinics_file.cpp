#include "core/clinics_file.hpp"

#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace sr {

namespace {

constexpr int k_format_version = 1;

struct JsonDeleter {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

std::string two_digits(int value) {
    char text[16];
    std::snprintf(text, sizeof text, "%02d", value);
    return text;
}

std::string hh_mm(int minutes) { return two_digits(minutes / 60) + ":" + two_digits(minutes % 60); }

json_t* string_array(const std::vector<std::string>& items) {
    json_t* array = json_array();
    for (const std::string& item : items) json_array_append_new(array, json_string(item.c_str()));
    return array;
}

std::string string_member(json_t* object, const char* name, const std::string& where) {
    json_t* value = json_object_get(object, name);
    if (!json_is_string(value))
        throw ClinicsFileError(where + ": \"" + name + "\" is missing or not a string");
    return json_string_value(value);
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::string database_identity(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (!options) {
        if (error) PQfreemem(error);
        return "";
    }
    std::map<std::string, std::string> set;
    for (PQconninfoOption* o = options; o->keyword; ++o) {
        if (o->val && *o->val) set[o->keyword] = o->val;
    }
    PQconninfoFree(options);
    std::string out;
    for (const char* keyword : {"host", "hostaddr", "port", "dbname"}) {
        const auto found = set.find(keyword);
        if (found != set.end()) out += (out.empty() ? "" : " ") + found->first + "=" + found->second;
    }
    return out;
}

std::string quiet_hours_setting(const QuietHours& quiet) {
    return quiet.active() ? hh_mm(quiet.start) + "-" + hh_mm(quiet.end) : "off";
}

std::string clinics_file_json(const std::vector<ClinicRecord>& clinics, const std::string& written_by) {
    JsonPtr document(json_object());
    json_object_set_new(document.get(), "format", json_integer(k_format_version));
    json_object_set_new(document.get(), "written_by", json_string(written_by.c_str()));
    json_t* list = json_array();
    json_object_set_new(document.get(), "clinics", list);
    for (const ClinicRecord& c : clinics) {
        json_t* item = json_object();
        json_object_set_new(item, "key", json_string(c.key.c_str()));
        json_object_set_new(item, "database", json_string(c.database.c_str()));
        json_object_set_new(item, "server", json_string(c.server.c_str()));
        json_object_set_new(item, "mounts", string_array(c.mounts));
        json_object_set_new(item, "clinic_name", json_string(c.clinic_name.c_str()));
        json_object_set_new(item, "time_zone", json_string(c.time_zone.c_str()));
        json_object_set_new(item, "locale", json_string(c.locale.c_str()));
        json_object_set_new(item, "message", json_string(c.message.c_str()));
        json_object_set_new(item, "lead_time_seconds", json_integer(c.lead_time.count()));
        json_object_set_new(item, "quiet_hours", json_string(quiet_hours_setting(c.quiet_hours).c_str()));
        json_t* languages = json_array();
        for (const auto& [code, text] : c.languages) {
            json_t* language = json_object();
            json_object_set_new(language, "code", json_string(code.c_str()));
            json_object_set_new(language, "message", json_string(text.c_str()));
            json_array_append_new(languages, language);
        }
        json_object_set_new(item, "languages", languages);
        json_object_set_new(item, "schedule", json_string(schedule_text(c.schedule).c_str()));
        json_array_append_new(list, item);
    }
    char* text = json_dumps(document.get(), JSON_INDENT(2) | JSON_ENSURE_ASCII);
    if (!text) throw ClinicsFileError("cannot encode the clinics file");
    std::string out(text);
    std::free(text);
    return out + "\n";
}

std::vector<ClinicRecord> parse_clinics_file(const std::string& json, const std::string& path) {
    json_error_t error;
    JsonPtr document(json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &error));
    if (!document || !json_is_object(document.get())) {
        throw ClinicsFileError(
            path + " is not a clinics file written by mod_sinch_reminder (not JSON: " + error.text + ")");
    }
    json_t* format = json_object_get(document.get(), "format");
    json_t* list = json_object_get(document.get(), "clinics");
    if (!json_is_integer(format) || !json_is_array(list)) {
        throw ClinicsFileError(path +
                               " is not a clinics file written by mod_sinch_reminder (no format/clinics)");
    }
    if (json_integer_value(format) != k_format_version) {
        throw ClinicsFileError(path + " has format " + std::to_string(json_integer_value(format)) +
                               "; this sinch-reminder-admin reads format " +
                               std::to_string(k_format_version) +
                               " (install the admin tool of the module's version)");
    }
    std::vector<ClinicRecord> out;
    for (std::size_t i = 0; i < json_array_size(list); ++i) {
        json_t* item = json_array_get(list, i);
        const std::string where = path + ": clinic #" + std::to_string(i + 1);
        if (!json_is_object(item)) throw ClinicsFileError(where + " is not an object");
        ClinicRecord c;
        c.key = string_member(item, "key", where);
        c.database = string_member(item, "database", where);
        c.server = string_member(item, "server", where);
        c.clinic_name = string_member(item, "clinic_name", where);
        c.time_zone = string_member(item, "time_zone", where);
        c.locale = string_member(item, "locale", where);
        c.message = string_member(item, "message", where);
        json_t* lead = json_object_get(item, "lead_time_seconds");
        if (!json_is_integer(lead) || json_integer_value(lead) < 0)
            throw ClinicsFileError(where + ": \"lead_time_seconds\" is missing or not a number");
        c.lead_time = std::chrono::seconds(json_integer_value(lead));
        try {
            c.quiet_hours = parse_quiet_hours(string_member(item, "quiet_hours", where));
        } catch (const std::invalid_argument& e) {
            throw ClinicsFileError(where + ": \"quiet_hours\": " + e.what());
        }
        json_t* languages = json_object_get(item, "languages");  // absent: written before languages existed
        for (std::size_t l = 0; json_is_array(languages) && l < json_array_size(languages); ++l) {
            json_t* language = json_array_get(languages, l);
            if (!json_is_object(language)) throw ClinicsFileError(where + ": a language is not an object");
            c.languages.emplace_back(string_member(language, "code", where + ": language"),
                                     string_member(language, "message", where + ": language"));
        }
        if (json_t* schedule = json_object_get(item, "schedule"); json_is_string(schedule)) {
            // "1d@18:00 2h"; absent in a file written before schedules existed.
            const std::string text = json_string_value(schedule);
            std::size_t at = 0;
            while (at < text.size()) {
                const std::size_t space = text.find(' ', at);
                const std::string entry =
                    text.substr(at, space == std::string::npos ? std::string::npos : space - at);
                if (!entry.empty()) {
                    try {
                        c.schedule.push_back(parse_schedule_entry(entry));
                    } catch (const std::exception& e) {
                        throw ClinicsFileError(where + ": \"schedule\": " + e.what());
                    }
                }
                if (space == std::string::npos) break;
                at = space + 1;
            }
        }
        json_t* mounts = json_object_get(item, "mounts");
        for (std::size_t m = 0; json_is_array(mounts) && m < json_array_size(mounts); ++m) {
            if (json_is_string(json_array_get(mounts, m)))
                c.mounts.push_back(json_string_value(json_array_get(mounts, m)));
        }
        out.push_back(std::move(c));
    }
    return out;
}

void write_clinics_file(const std::string& path, const std::vector<ClinicRecord>& clinics,
                        const std::string& written_by) {
    const std::string text = clinics_file_json(clinics, written_by);
    const std::string temporary = path + ".tmp." + std::to_string(getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw ClinicsFileError("cannot create " + temporary + ": " + errno_text(errno));
    std::size_t written = 0;
    int error = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = errno;
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    // Readable by the admin tool run as any user: it holds no secret (the umask must not hide it).
    if (!error && ::fchmod(fd, 0644) != 0) error = errno;
    if (!error && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && !error) error = errno;
    if (!error && std::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (error) {
        ::unlink(temporary.c_str());
        throw ClinicsFileError("cannot write " + path + ": " + errno_text(error));
    }
}

std::vector<ClinicRecord> read_clinics_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ClinicsFileError("cannot read the clinics file " + path + " (" + errno_text(errno) +
                               "); httpd writes it at every start (SinchReminderClinicsFile)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_clinics_file(text.str(), path);
}

const ClinicRecord& find_clinic(const std::vector<ClinicRecord>& clinics, const std::string& key,
                                const std::string& database, const std::string& path) {
    std::vector<const ClinicRecord*> found;
    std::vector<std::string> keys;
    for (const ClinicRecord& c : clinics) {
        if (c.key == key) found.push_back(&c);
        if (std::find(keys.begin(), keys.end(), c.key) == keys.end()) keys.push_back(c.key);
    }
    if (found.empty()) {
        std::string known;
        for (const std::string& k : keys) known += (known.empty() ? "" : ", ") + k;
        throw ClinicsFileError("clinic '" + key + "' is not in " + path +
                               " (httpd's configuration there has " +
                               (known.empty() ? std::string("no clinic") : "the clinics: " + known) +
                               "); check the key (SinchReminderClinic), or pass the file of the httpd that "
                               "serves it with --clinics-file");
    }
    if (found.size() == 1) return *found.front();
    for (const ClinicRecord* c : found) {
        if (c->database == database) return *c;
    }
    std::string databases;
    for (const ClinicRecord* c : found) databases += (databases.empty() ? "" : "; ") + c->database;
    throw ClinicsFileError("clinic '" + key + "' is configured for several databases in " + path + " (" +
                           databases + ") and --database names none of them (" + database + ")");
}

}  // namespace sr
