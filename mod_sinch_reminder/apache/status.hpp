#pragma once
// The module's section of mod_status (status.cpp). Registered with the other hooks; does nothing unless
// mod_status is loaded.

namespace sr::apache {

void register_status_hook();

}  // namespace sr::apache
