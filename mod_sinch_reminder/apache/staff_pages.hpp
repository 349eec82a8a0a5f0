#pragma once
// The staff pages beyond booking: the appointment list (GET {mount}/list), cancelling and
// rescheduling from the appointment page (POST {mount}/a/{id}/cancel|reschedule, CSRF-protected with
// the booking form's tokens), and what the appointment page shows about them (forms, delivery,
// flags, audit trail).
#include <string>

#include "apache/appointment_pages.hpp"
#include "core/pg_pool.hpp"
#include "core/store.hpp"
#include "core/templates.hpp"

namespace sr {
class ClinicZone;
}

namespace sr::apache {

int show_list(PageRequest& p);
int cancel_from_page(PageRequest& p, const std::string& appointment_id);
int reschedule_from_page(PageRequest& p, const std::string& appointment_id);

// Adds the staff details (see core/staff_view.hpp) to the appointment page's data: a CSRF token for
// the forms (the booking form's cookie is set if missing), the audit trail, and a "done" message
// from the query string. Throws DatabaseUnavailable.
void add_staff_page_details(PageRequest& p, TemplateData& page, const AppointmentRecord& appointment,
                            PgLease& lease, const ClinicZone& zone);

}  // namespace sr::apache
