// templates.hpp: the staff pages (form, confirmation, error, list), loaded and checked once at startup.
//
// Pages are Mustache files (kainjow/mustache 4.1) in the template directory; admins may copy and brand them.
// load() reads and compiles every page and every partial the pages use ({{> name}} -> name.html), and
// refuses a directory whose templates would misbehave at run time:
//  - a missing or unreadable file, or a Mustache syntax error ("<dir>/form.html:12:5: Unclosed section ...");
//  - raw output ({{{key}}} or {{& key}}): every value can carry user input, so every substitution is
//    HTML-escaped; no key is trusted with raw output today;
//  - a set-delimiter tag ({{=<% %>=}}), which would hide tags from the raw-output check;
//  - a key that is not in the page's data contract (a typo would otherwise render as nothing, silently).
//    The contracts are listed in templates.cpp and at the top of each shipped template.
//
// Rendering differs from plain kainjow in one way: an empty string counts as false in a section, so
// "{{#phone.error}}<p>{{phone.error}}</p>{{/phone.error}}" shows the paragraph only when there is an error.
//
// Thread safety: PageTemplates is immutable after load() (but for render_cached()'s locked cache); render()
// and render_cached() may be called from any thread.
#pragma once

#include <kainjow/mustache.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sr {

// A template directory cannot be used. The message names the file and the problem; httpd prints it and
// refuses to start.
class TemplateError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Values for a page: objects, lists, strings and bools only. Build them like this:
//   TemplateData page;                                   // an object
//   page.set("page_title", "New appointment");
//   page.set("has_errors", true);
//   page.set("phone", TemplateObject{{"value", typed}, {"error", ""}});
//   TemplateList errors;  errors.push_back(TemplateObject{{"message", text}});
//   page.set("errors", errors);
// Pass numbers as strings: kainjow turns an int into a bool silently (503 would render as nothing).
// Never put kainjow lambdas or partials into page data: their output is not escaped.
using TemplateData = kainjow::mustache::data;
using TemplateObject = kainjow::mustache::object;
using TemplateList = kainjow::mustache::list;

enum class Page { Form, Confirmation, Error, List };

// "form.html", "confirmation.html", "error.html", "list.html"
const char* file_name(Page page) noexcept;

class PageTemplates {
  public:
    // Reads, compiles and checks every page in `directory` (see the top of this file).
    // Throws TemplateError naming the file and the problem.
    static PageTemplates load(const std::string& directory);

    // The page as HTML. Keys missing from `data` render as nothing. Throws TemplateError only if kainjow
    // reports a render error, which the load-time checks should make impossible.
    std::string render(Page page, const TemplateData& data) const;

    // render() for a page whose data is the same for many requests except one value, e.g. the blank form
    // and its per-request CSRF token: the page is rendered once per `cache_key` with a marker in place of
    // `slot_key`, and each call only splices in the HTML-escaped `slot_value`. `build_data` runs only when
    // the key is new; the key must name everything it depends on.
    std::string render_cached(Page page, const std::string& cache_key,
                              const std::function<TemplateData()>& build_data, const std::string& slot_key,
                              const std::string& slot_value) const;

    const std::string& directory() const noexcept;

  private:
    struct Compiled;
    explicit PageTemplates(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
    std::shared_ptr<const Compiled> compiled_;
};

// Mustache helpers shared by the pages and the SMS template (sms_text.cpp); not meant for other callers.
namespace mustache_support {

enum class TagKind { Variable, Raw, Section, Partial, Comment, SetDelimiter };

struct Tag {
    TagKind kind;
    std::string name;  // without the sigil and spaces: "errors" for "{{# errors }}"
    size_t offset;     // byte offset of the opening "{{"
};

// The tags of a template that kainjow has accepted, found as kainjow's parser finds them with the default
// delimiters. A set-delimiter tag is reported but not followed: callers refuse it.
std::vector<Tag> scan_tags(const std::string& text);

// "12:5": 1-based line and column (in bytes) of a byte offset.
std::string line_and_column(const std::string& text, size_t offset);

// A process-wide unique id for a compiled template, for thread_working_copy().
std::uint64_t next_template_id();

// kainjow's render() is not const (it records errors in the object), so shared compiled templates are
// never rendered: each thread renders its own copy, made once per template id.
kainjow::mustache::mustache& thread_working_copy(const kainjow::mustache::mustache& compiled,
                                                 std::uint64_t id);

// Renders `working_copy` (kainjow's render() is not const: never pass an object other threads render),
// with "" counting as false in sections and partials found only in `partials`, never in `data`.
// Sets `error` to kainjow's message if rendering fails.
std::string render_with(kainjow::mustache::mustache& working_copy, const TemplateData& data,
                        const std::map<std::string, TemplateData>& partials, std::string& error);

}  // namespace mustache_support

}  // namespace sr
