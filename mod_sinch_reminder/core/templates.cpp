// templates.cpp: loading, checking and rendering the staff pages (see templates.hpp).
#include "core/templates.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>

namespace sr {

using namespace mustache_support;

namespace {

using Mustache = kainjow::mustache::mustache;

// A template larger than this is a mistake (a log file copied over it, say), not a page.
constexpr long kMaxTemplateBytes = 1024 * 1024;

// Keys that may be printed raw with {{{key}}} or {{& key}}. None: every value can carry user input, and the
// pages need no markup from the module.
const std::set<std::string> kTrustedRawKeys = {};

// The data contract of each page: every name that may appear in a tag (segments of dotted names included).
// Keep in step with the comment at the top of each shipped template and with the adapter that fills them.
// clang-format off
const std::set<std::string>& contract_keys(Page page) {
    static const std::set<std::string> form = {
        "page_title", "account_banner", "clinic_name", "time_zone", "time_zone_now", "lead_time_text", "form_action",
        "csrf_token", "has_errors", "errors", "message",
        "patient_name", "doctor_name", "phone", "appointment_date", "appointment_time", "value", "error",
        "phone_needs_confirmation", "phone_warning", "list_url",
        "has_doctor_choices", "doctor_choices", "name", "selected",
        "language", "has_language_choices", "language_choices", "code"};
    static const std::set<std::string> confirmation = {
        "page_title", "account_banner", "clinic_name",
        "appointment", "id", "patient_name", "doctor_name", "phone_e164", "local_time_text", "time_zone",
        "utc_text",
        "reminder", "batch_id", "status", "status_text", "is_problem", "sms_text", "sms_parts_text",
        "notices", "message", "new_url", "list_url", "sms_language",
        // staff operations
        "is_cancelled", "revision", "delivery_text", "delivery_is_problem", "attention", "attention_time_text",
        "has_history", "history", "has_audit", "audit", "when_text", "actor", "remote_addr", "action",
        "details_text", "actions", "cancel_csrf_token", "reschedule_csrf_token", "cancel_url", "reschedule_url", "reschedule_date",
        "reschedule_time", "has_errors", "errors",
        // several reminders (SinchReminderSchedule)
        "has_several_reminders", "reminders", "slot", "client_reference"};
    static const std::set<std::string> error = {"page_title", "account_banner", "status", "title", "message", "back_url"};
    static const std::set<std::string> list = {
        "page_title", "account_banner", "clinic_name",
        "filters", "from", "to", "q", "status",
        "appointments", "url", "patient_name", "doctor_name", "phone_masked", "local_time_text",
        "reminder_status", "reminder_status_text", "reminder_local_time_text", "is_problem",
        "has_appointments", "prev_url", "next_url", "new_url",
        // staff operations
        "time_zone", "status_options", "value", "label", "selected", "has_errors", "errors", "message",
        "summary_text", "is_cancelled", "delivery_text", "attention",
        // several clinics (SinchReminderSeeClinics)
        "show_clinics", "clinic",
        // several reminders (SinchReminderSchedule)
        "reminder_count_text"};
    switch (page) {
        case Page::Form: return form;
        case Page::Confirmation: return confirmation;
        case Page::Error: return error;
        case Page::List: return list;
    }
    return error;
}
// clang-format on

constexpr Page kAllPages[] = {Page::Form, Page::Confirmation, Page::Error, Page::List};

std::string join_path(const std::string& directory, const std::string& file) {
    if (directory.empty()) return file;
    return directory.back() == '/' ? directory + file : directory + "/" + file;
}

std::string read_template_file(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        throw TemplateError(path + ": cannot open template: " + std::strerror(errno));
    }
    std::string text;
    char buffer[8192];
    size_t count = 0;
    while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
        text.append(buffer, count);
        if (static_cast<long>(text.size()) > kMaxTemplateBytes) {
            std::fclose(file);
            throw TemplateError(path + ": template is larger than " + std::to_string(kMaxTemplateBytes) +
                                " bytes");
        }
    }
    const bool failed = std::ferror(file) != 0;
    const int read_errno = errno;
    std::fclose(file);
    if (failed) throw TemplateError(path + ": cannot read template: " + std::strerror(read_errno));
    return text;
}

// kainjow's messages end in " at <byte offset>"; that offset becomes the file:line:column prefix.
std::string located_mustache_error(const std::string& path, const std::string& text,
                                   const std::string& message) {
    const size_t at = message.rfind(" at ");
    if (at != std::string::npos && at + 4 < message.size() &&
        message.find_first_not_of("0123456789", at + 4) == std::string::npos) {
        const size_t offset = std::stoul(message.substr(at + 4));
        return path + ":" + line_and_column(text, offset) + ": " + message;
    }
    return path + ": " + message;
}

// Partial names become file names, so only plain names are allowed: no paths, no dots.
bool is_plain_partial_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!allowed) return false;
    }
    return true;
}

struct SourceFile {
    std::string path;
    std::string text;
    Mustache compiled;
    std::vector<Tag> tags;
};

// Reads and compiles one file and applies the checks that need no page context.
SourceFile read_and_compile(const std::string& path) {
    std::string text = read_template_file(path);
    SourceFile source{path, text, Mustache(text), {}};
    if (!source.compiled.is_valid()) {
        throw TemplateError(located_mustache_error(path, source.text, source.compiled.error_message()));
    }
    source.tags = scan_tags(source.text);
    for (const Tag& tag : source.tags) {
        const std::string where = path + ":" + line_and_column(source.text, tag.offset) + ": ";
        if (tag.kind == TagKind::SetDelimiter) {
            throw TemplateError(where + "set-delimiter tags are not supported; use {{ and }}");
        }
        if (tag.kind == TagKind::Raw && kTrustedRawKeys.count(tag.name) == 0) {
            throw TemplateError(where + "raw output of '" + tag.name +
                                "' is not allowed ({{{...}}} and {{&...}} skip HTML escaping); use {{" +
                                tag.name + "}}");
        }
        if (tag.kind == TagKind::Partial && !is_plain_partial_name(tag.name)) {
            throw TemplateError(where + "partial name '" + tag.name +
                                "' must use only a-z, 0-9 and _ (it names <name>.html in the template "
                                "directory)");
        }
    }
    return source;
}

}  // namespace

const char* file_name(Page page) noexcept {
    switch (page) {
        case Page::Form:
            return "form.html";
        case Page::Confirmation:
            return "confirmation.html";
        case Page::Error:
            return "error.html";
        case Page::List:
            return "list.html";
    }
    return "?";
}

namespace {

struct CompiledPage {
    Mustache mustache;  // partials inlined at load time, so rendering never parses
    std::uint64_t id;   // for thread_working_copy()
};

}  // namespace

struct PageTemplates::Compiled {
    std::string directory;
    std::map<Page, CompiledPage> pages;
    std::string slot_marker;  // stands for the slot value in cached renders (see render_cached)

    mutable std::mutex cache_mutex;
    mutable std::map<std::pair<Page, std::string>, std::shared_ptr<const std::vector<std::string>>> cached;
};

namespace {

// Loads the pages and, once each, the partials they use.
class Loader {
  public:
    explicit Loader(const std::string& directory) : directory_(directory) {}

    void load_page(Page page, std::map<Page, CompiledPage>& pages) {
        const SourceFile source = read_and_compile(join_path(directory_, file_name(page)));
        std::vector<std::string> chain;
        load_partials_of(source, chain);
        check_keys(source, page, source.path);
        // kainjow would parse a partial again every time a page uses it; pages get them inlined instead.
        const std::string inlined = inline_partials(source);
        Mustache compiled(inlined);
        if (!compiled.is_valid()) {
            throw TemplateError(source.path + ": with its partials inlined: " + compiled.error_message());
        }
        pages.emplace(page, CompiledPage{std::move(compiled), next_template_id()});
    }

  private:
    // Depth first; `chain` holds the partials being loaded, to refuse one that includes itself (kainjow
    // would follow it until the stack overflows).
    void load_partials_of(const SourceFile& source, std::vector<std::string>& chain) {
        for (const Tag& tag : source.tags) {
            if (tag.kind != TagKind::Partial) continue;
            const std::string where = source.path + ":" + line_and_column(source.text, tag.offset) + ": ";
            if (std::find(chain.begin(), chain.end(), tag.name) != chain.end()) {
                std::string cycle;
                for (const std::string& name : chain) cycle += name + " -> ";
                throw TemplateError(where + "partial '" + tag.name + "' includes itself (" + cycle +
                                    tag.name + ")");
            }
            if (partials_.count(tag.name) == 0) {
                try {
                    partials_.emplace(tag.name, read_and_compile(join_path(directory_, tag.name + ".html")));
                } catch (const TemplateError& e) {
                    throw TemplateError(std::string(e.what()) + " (partial used by " + source.path + ")");
                }
            }
            chain.push_back(tag.name);
            load_partials_of(partials_.at(tag.name), chain);
            chain.pop_back();
        }
    }

    // Every name a page or its partials use must be in the page's contract; a typo would otherwise render
    // as nothing.
    void check_keys(const SourceFile& source, Page page, const std::string& page_path) const {
        const std::set<std::string>& known = contract_keys(page);
        for (const Tag& tag : source.tags) {
            if (tag.kind == TagKind::Partial) {
                check_keys(partials_.at(tag.name), page, page_path);
                continue;
            }
            if (tag.kind != TagKind::Variable && tag.kind != TagKind::Section) continue;
            if (tag.name == ".") continue;
            size_t segment_start = 0;
            while (segment_start <= tag.name.size()) {
                size_t segment_end = tag.name.find('.', segment_start);
                if (segment_end == std::string::npos) segment_end = tag.name.size();
                if (known.count(tag.name.substr(segment_start, segment_end - segment_start)) == 0) {
                    const std::string used_by =
                        source.path == page_path ? "" : " (partial used by " + page_path + ")";
                    throw TemplateError(
                        source.path + ":" + line_and_column(source.text, tag.offset) + ": unknown key '" +
                        tag.name + "' for " + file_name(page) + used_by +
                        "; the keys a page gets are listed at the top of its shipped template");
                }
                segment_start = segment_end + 1;
            }
        }
    }

    // The text with every partial tag replaced by the partial's (inlined) text. Like the Mustache spec, a
    // partial tag alone on its line replaces the whole line, each of the partial's lines indented as the tag.
    std::string inline_partials(const SourceFile& source) const {
        std::string text = source.text;
        const std::vector<Tag>& tags = source.tags;
        for (auto tag = tags.rbegin(); tag != tags.rend(); ++tag) {  // from the end: offsets stay valid
            if (tag->kind != TagKind::Partial) continue;
            const std::string partial = inline_partials(partials_.at(tag->name));
            const size_t tag_end = text.find("}}", tag->offset) + 2;
            const size_t line_start =
                text.rfind('\n', tag->offset) == std::string::npos ? 0 : text.rfind('\n', tag->offset) + 1;
            const size_t line_end = text.find('\n', tag_end);
            const std::string before = text.substr(line_start, tag->offset - line_start);
            const std::string after =
                text.substr(tag_end, (line_end == std::string::npos ? text.size() : line_end) - tag_end);
            const bool standalone = before.find_first_not_of(" \t") == std::string::npos &&
                                    after.find_first_not_of(" \t\r") == std::string::npos;
            if (!standalone) {
                text.replace(tag->offset, tag_end - tag->offset, partial);
                continue;
            }
            std::string indented;
            for (size_t at = 0; at < partial.size();) {
                const size_t next = partial.find('\n', at);
                const size_t stop = next == std::string::npos ? partial.size() : next + 1;
                indented += before + partial.substr(at, stop - at);
                at = stop;
            }
            const size_t replace_end = line_end == std::string::npos ? text.size() : line_end + 1;
            text.replace(line_start, replace_end - line_start, indented);
        }
        return text;
    }

    std::string directory_;
    std::map<std::string, SourceFile> partials_;
};

std::string random_marker() {
    static std::atomic<std::uint64_t> counter{0};
    std::random_device random;
    char text[64];
    std::snprintf(text, sizeof text, "srslot%08x%08x%llu", random(), random(),
                  static_cast<unsigned long long>(++counter));
    return text;
}

}  // namespace

PageTemplates PageTemplates::load(const std::string& directory) {
    auto compiled = std::make_shared<Compiled>();
    compiled->directory = directory;
    Loader loader(directory);
    for (const Page page : kAllPages) {
        loader.load_page(page, compiled->pages);
    }
    compiled->slot_marker = random_marker();
    return PageTemplates(std::move(compiled));
}

std::string PageTemplates::render(Page page, const TemplateData& data) const {
    static const std::map<std::string, TemplateData> kNoPartials;  // inlined at load time
    const CompiledPage& compiled = compiled_->pages.at(page);
    Mustache& working_copy = thread_working_copy(compiled.mustache, compiled.id);
    std::string error;
    std::string html = render_with(working_copy, data, kNoPartials, error);
    if (!error.empty()) {
        throw TemplateError(join_path(compiled_->directory, file_name(page)) + ": render failed: " + error);
    }
    return html;
}

std::string PageTemplates::render_cached(Page page, const std::string& cache_key,
                                         const std::function<TemplateData()>& build_data,
                                         const std::string& slot_key, const std::string& slot_value) const {
    const auto key = std::make_pair(page, cache_key);
    std::shared_ptr<const std::vector<std::string>> pieces;
    {
        std::lock_guard<std::mutex> lock(compiled_->cache_mutex);
        const auto found = compiled_->cached.find(key);
        if (found != compiled_->cached.end()) pieces = found->second;
    }
    if (!pieces) {
        TemplateData data = build_data();
        data.set(slot_key, compiled_->slot_marker);
        const std::string html = render(page, data);
        auto split = std::make_shared<std::vector<std::string>>();
        const std::string& marker = compiled_->slot_marker;
        size_t at = 0;
        for (size_t next; (next = html.find(marker, at)) != std::string::npos; at = next + marker.size()) {
            split->push_back(html.substr(at, next - at));
        }
        split->push_back(html.substr(at));
        pieces = split;
        std::lock_guard<std::mutex> lock(compiled_->cache_mutex);
        if (compiled_->cached.size() >= 64) compiled_->cached.clear();  // keys that change (e.g. the minute)
        compiled_->cached[key] = pieces;
    }
    const std::string escaped = kainjow::mustache::html_escape<std::string>(slot_value);
    std::string html;
    size_t size = escaped.size() * (pieces->size() - 1);
    for (const std::string& piece : *pieces) size += piece.size();
    html.reserve(size);
    for (size_t i = 0; i < pieces->size(); ++i) {
        if (i > 0) html += escaped;
        html += (*pieces)[i];
    }
    return html;
}

const std::string& PageTemplates::directory() const noexcept { return compiled_->directory; }

namespace mustache_support {

namespace {

std::string trim(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    const size_t last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

// kainjow's own context with two changes: "" is false in sections, and partials come only from the
// loaded files, so page data can never supply a template.
class FalsyEmptyContext : public kainjow::mustache::context<std::string> {
  public:
    FalsyEmptyContext(const TemplateData* data, const std::map<std::string, TemplateData>& partials)
        : kainjow::mustache::context<std::string>(data), partials_(partials) {}

    const TemplateData* get(const std::string& name) const override {
        static const TemplateData kFalse(false);
        const TemplateData* found = kainjow::mustache::context<std::string>::get(name);
        if (found != nullptr && found->is_string() && found->string_value().empty()) return &kFalse;
        return found;
    }

    const TemplateData* get_partial(const std::string& name) const override {
        const auto found = partials_.find(name);
        return found == partials_.end() ? nullptr : &found->second;
    }

  private:
    const std::map<std::string, TemplateData>& partials_;
};

}  // namespace

std::vector<Tag> scan_tags(const std::string& text) {
    std::vector<Tag> tags;
    size_t position = 0;
    while ((position = text.find("{{", position)) != std::string::npos) {
        const size_t start = position;
        // Like kainjow: "{{{" opens a triple mustache that ends at "}}}".
        const bool triple = start + 2 < text.size() && text[start + 2] == '{';
        const std::string closing = triple ? "}}}" : "}}";
        const size_t contents_start = start + (triple ? 3 : 2);
        const size_t end = text.find(closing, contents_start);
        if (end == std::string::npos) break;  // kainjow has refused this template already
        const std::string contents = trim(text.substr(contents_start, end - contents_start));
        position = end + closing.size();

        Tag tag{TagKind::Variable, contents, start};
        if (triple) {
            tag.kind = TagKind::Raw;
        } else if (!contents.empty()) {
            switch (contents[0]) {
                case '#':
                case '^':
                case '/':
                    tag.kind = TagKind::Section;
                    break;
                case '>':
                    tag.kind = TagKind::Partial;
                    break;
                case '&':
                    tag.kind = TagKind::Raw;
                    break;
                case '!':
                    tag.kind = TagKind::Comment;
                    break;
                case '=':
                    tag.kind = TagKind::SetDelimiter;
                    break;
                default:
                    break;
            }
            if (tag.kind != TagKind::Variable) tag.name = trim(contents.substr(1));
        }
        tags.push_back(tag);
    }
    return tags;
}

std::string line_and_column(const std::string& text, size_t offset) {
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

std::uint64_t next_template_id() {
    static std::atomic<std::uint64_t> last{0};
    return ++last;
}

kainjow::mustache::mustache& thread_working_copy(const kainjow::mustache::mustache& compiled,
                                                 std::uint64_t id) {
    thread_local std::map<std::uint64_t, kainjow::mustache::mustache> copies;
    auto found = copies.find(id);
    if (found == copies.end()) {
        if (copies.size() >= 64) copies.clear();  // templates of an earlier load are not used again
        found = copies.emplace(id, compiled).first;
    }
    return found->second;
}

std::string render_with(kainjow::mustache::mustache& working_copy, const TemplateData& data,
                        const std::map<std::string, TemplateData>& partials, std::string& error) {
    FalsyEmptyContext context(&data, partials);
    std::string text = working_copy.render(context);
    error = working_copy.is_valid() ? "" : working_copy.error_message();
    return text;
}

}  // namespace mustache_support

}  // namespace sr
