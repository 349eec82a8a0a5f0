#!/usr/bin/env bash
# The Debian package end to end, on this machine's own apache2 (CI runs it from .ci/run on a fresh Debian 12):
#   1. build it with scripts/package (or take the .deb given as argument) and run lintian on it;
#   2. install it with apt-get (dependencies resolve); the module is enabled as Debian's module packages
#      do it, `apache2ctl -M` lists it, `apache2ctl configtest` passes, .conf/.load are conffiles;
#      sinch-reminder-admin --version and its man page;
#   3. one booking through the installed module: a throwaway PostgreSQL migrated by the installed
#      sinch-reminder-admin with the installed migrations, the Sinch fake, and an httpd of our own that
#      includes the module's mods-enabled files and uses the installed templates;
#   4. remove disables the module and keeps the conffiles; installing again enables it again;
#   5. an admin's edit of the .conf and their a2dismod survive a reinstall;
#   6. purge removes the conffiles and the module's enable state.
#
#   tests/package/test_package.sh [PACKAGE.deb]
#
# Needs root (it installs into /etc/apache2 and /usr). It refuses to run where the package or a
# `cmake --install` copy of the module is present, and purges the package at the end, also on failure,
# so the system is left as it was found. The system's apache2 service is never started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pkg=libapache2-mod-sinch-reminder
mods=/etc/apache2/mods-available
enabled=/etc/apache2/mods-enabled

step() { printf '\n=== %s\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 "$@"; }
package_status() { dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || echo not-installed; }

[ "$(id -u)" = 0 ] || fail "run as root: this test installs $pkg into the system's apache2"
status=$(package_status)
[ "$status" = not-installed ] || fail "$pkg is already on this machine ($status); this test would purge it"
for f in $mods/sinch_reminder.load $mods/sinch_reminder.conf $enabled/sinch_reminder.load \
  /usr/lib/apache2/modules/mod_sinch_reminder.so /usr/sbin/sinch-reminder-admin /usr/share/mod_sinch_reminder \
  /var/lib/apache2/module/*/sinch_reminder; do
  [ ! -e "$f" ] || fail "$f exists (a \`cmake --install\` copy, or a2enmod state): remove it first"
done
# apache2ctl creates its run and lock directories; remove them afterwards if they were not there.
runtime_dirs=()
for d in /run/apache2 /run/lock/apache2; do [ -e "$d" ] || runtime_dirs+=("$d"); done

state=$(mktemp -d /tmp/sr-pkgtest.XXXXXX)
chmod 755 "$state"
installed=0
httpd_root="$state/httpd"
httpd_conf="$httpd_root/conf/httpd.conf"

stop_httpd() {
  [ -f "$httpd_root/run/httpd.pid" ] || return 0
  local pid i
  pid=$(cat "$httpd_root/run/httpd.pid")
  apache2 -d "$httpd_root" -f "$httpd_conf" -k stop >/dev/null 2>&1 || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$httpd_root/run/httpd.pid"
}
cleanup() {
  local rc=$?
  set +e
  if [ $rc != 0 ] && [ -f "$httpd_root/logs/error.log" ]; then
    echo "--- httpd error log ---" >&2
    tail -n 40 "$httpd_root/logs/error.log" >&2
  fi
  stop_httpd
  bash "$root/tests/sinch_fake/fakectl.sh" stop "$state/fake" >/dev/null 2>&1
  bash "$root/tests/pg.sh" stop "$state/pg" >/dev/null 2>&1
  if [ $installed = 1 ] && [ "$(package_status)" != not-installed ]; then
    echo "cleanup: purging $pkg" >&2
    apt_get purge "$pkg" >/dev/null 2>&1 || dpkg --purge "$pkg" >/dev/null 2>&1
  fi
  [ ${#runtime_dirs[@]} = 0 ] || rm -rf "${runtime_dirs[@]}"
  rm -rf "$state"
  [ $rc = 0 ] && echo "PASS: $pkg built, lintian-clean, installed, booked through, removed and purged"
  exit $rc
}
trap cleanup EXIT

# --- 1. build and lintian ---------------------------------------------------------------------
if [ $# -ge 1 ]; then
  deb=$(realpath "$1")
else
  step "build: scripts/package"
  "$root/scripts/package" | tee "$state/package.out"
  deb=$(tail -n 1 "$state/package.out")
fi
[ -f "$deb" ] || fail "no package at $deb"
# World-readable copies: lintian runs as nobody, and apt reads local packages as _apt.
cp "$deb" "$state/"
deb="$state/$(basename "$deb")"
chmod 644 "$deb"
version=$(dpkg-deb -f "$deb" Version)
project_version=$(sed -n 's/^project(mod_sinch_reminder VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ "$version" = "$project_version" ] ||
  fail "package version $version (debian/changelog) is not the project's $project_version (CMakeLists.txt)"
if dpkg-deb -c "$deb" | grep -E 'sr-bench|/usr/local/'; then fail "the package ships the lines above"; fi

step "lintian $(basename "$deb")"
(source "$root/scripts/deps.sh" && sr_install_missing_packages lintian)
# Errors and warnings fail; info, pedantic and overridden tags are shown. Not as root (lintian warns),
# and from a directory nobody may enter (the checkout may be under a 0700 one).
(cd "$state" && runuser -u nobody -- env HOME="$state" lintian --display-info --pedantic --show-overrides \
  --fail-on error,warning "$deb")
echo "lintian: no errors or warnings"

# --- 2. install --------------------------------------------------------------------------------
step "apt-get install $deb"
installed=1
apt_get install "$deb"
[ "$(package_status)" = installed ] || fail "$pkg is not installed after apt-get install"
conffiles=$(dpkg-query -W -f='${Conffiles}' "$pkg")
echo "conffiles:$conffiles"
for f in sinch_reminder.conf sinch_reminder.load; do
  grep -q " $mods/$f " <<<"$conffiles" || fail "$mods/$f is not a conffile"
done
# Debian's convention (apache2-maintscript-helper via dh_apache2): enabled on a fresh install.
a2query -m sinch_reminder || fail "a2query: sinch_reminder is not enabled after the install"
[ -L $enabled/sinch_reminder.load ] && [ -L $enabled/sinch_reminder.conf ] || fail "no mods-enabled symlinks"
apache2ctl -M 2>/dev/null | grep -F ' sinch_reminder_module (shared)' || fail "apache2ctl -M does not list it"
step "apache2ctl configtest (the system's configuration, with the module enabled)"
apache2ctl configtest
/usr/sbin/sinch-reminder-admin --version
[ "$(/usr/sbin/sinch-reminder-admin --version)" = "sinch-reminder-admin $version" ] || fail "--version"
manpage=$(man -w sinch-reminder-admin)
[ "$manpage" = /usr/share/man/man8/sinch-reminder-admin.8.gz ] || fail "man -w: $manpage"
man --warnings -l "$manpage" >/dev/null
python3 "$here/check_manpage.py" /usr/sbin/sinch-reminder-admin "$manpage"

# --- 3. one booking through the installed module -------------------------------------------------
step "booking through the installed module (throwaway PostgreSQL, Sinch fake, httpd on loopback)"
bash "$root/tests/pg.sh" start "$state/pg"
pg_port=$(sed -n 's/^PGPORT=//p' "$state/pg/env")
fake_url=$(bash "$root/tests/sinch_fake/fakectl.sh" start "$state/fake")
psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" \
  -c 'CREATE DATABASE sr_package'
conninfo="host=127.0.0.1 port=$pg_port user=postgres dbname=sr_package connect_timeout=3"
# No --sql-dir: the installed tool must find the installed migrations by itself.
/usr/sbin/sinch-reminder-admin migrate --database "$conninfo" | tee "$state/migrate.out"
grep -q ' from /usr/share/mod_sinch_reminder/sql)$' "$state/migrate.out" || fail "migrated from elsewhere"

mkdir -p "$httpd_root"/{conf,logs,run,htdocs}
chown nobody:nogroup "$httpd_root/logs" "$httpd_root/run"
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$httpd_conf" <<CONF
ServerRoot "$httpd_root"
ServerName 127.0.0.1
Listen 127.0.0.1:$http_port
PidFile "$httpd_root/run/httpd.pid"
DefaultRuntimeDir "$httpd_root/run"
Mutex file:$httpd_root/run default
ErrorLog "$httpd_root/logs/error.log"
LogLevel info
User nobody
Group nogroup
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
MinSpareThreads 8
MaxSpareThreads 16
DocumentRoot "$httpd_root/htdocs"
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
# The module as the package enabled it, and its packaged configuration.
Include $enabled/sinch_reminder.load
Include $enabled/sinch_reminder.conf
# No SinchReminderTemplateDir: the compiled-in default must be the package's templates.
SinchReminderDatabase "$conninfo"
SinchReminderTimeZone America/New_York
SinchReminderDefaultCountry US
SinchReminderServicePlanId test-plan
SinchReminderApiToken test-api-token
SinchReminderFrom +12025550100
SinchReminderSmsBaseUrl $fake_url
SinchReminderAuthBaseUrl $fake_url
SinchReminderClinicName "Riverside Clinic"
SinchReminderCookieSecure Off
# Loopback only, for this test; a real site protects the mount (README, "Protecting the mount").
SinchReminderAllowAnonymous On
<Location "/appointment">
  SetHandler sinch-reminder
</Location>
CONF
apache2 -d "$httpd_root" -f "$httpd_conf" -t
apache2 -d "$httpd_root" -f "$httpd_conf" -k start
for ((i = 0; i < 200; i++)); do
  curl -fs -o /dev/null "http://127.0.0.1:$http_port/appointment" && break
  sleep 0.1
done
python3 "$here/book.py" "$http_port" "$conninfo" "$fake_url"
stop_httpd
grep -F 'SR0020' "$httpd_root/logs/error.log" || fail "no start-up line (SR0020) in httpd's error log"
if grep -E '\[(sinch_reminder:(warn|error|crit|alert|emerg))|\[[a-z_]+:(error|crit|alert|emerg)\]' \
  "$httpd_root/logs/error.log"; then
  fail "httpd logged the problems above"
fi
bash "$root/tests/sinch_fake/fakectl.sh" stop "$state/fake"
bash "$root/tests/pg.sh" stop "$state/pg"

# --- 4. remove, install again -------------------------------------------------------------------
step "apt-get remove: the module is disabled, its conffiles stay"
apt_get remove "$pkg"
[ "$(package_status)" = config-files ] || fail "after remove: $(package_status)"
[ ! -e $enabled/sinch_reminder.load ] && [ ! -L $enabled/sinch_reminder.load ] || fail "still in mods-enabled"
[ ! -e $enabled/sinch_reminder.conf ] && [ ! -L $enabled/sinch_reminder.conf ] || fail "still in mods-enabled"
[ ! -e /usr/lib/apache2/modules/mod_sinch_reminder.so ] || fail "the module is still installed"
[ -f $mods/sinch_reminder.conf ] && [ -f $mods/sinch_reminder.load ] || fail "remove deleted the conffiles"
apache2ctl configtest

step "install again: enabled again (it was disabled by the removal, not by the admin)"
apt_get install "$deb"
a2query -m sinch_reminder || fail "not enabled again"

# --- 5. the admin's edit and a2dismod survive a reinstall ----------------------------------------
step "the admin edits sinch_reminder.conf and disables the module; the package is installed again"
echo "# local edit kept by dpkg (test_package.sh)" >>$mods/sinch_reminder.conf
a2dismod -q sinch_reminder
dpkg -i "$deb" </dev/null
grep -q '^# local edit kept by dpkg' $mods/sinch_reminder.conf || fail "the edit of the .conf was lost"
if a2query -q -m sinch_reminder; then fail "reinstalling enabled a module the admin had disabled"; fi
echo "edit kept; module still disabled"

# --- 6. purge --------------------------------------------------------------------------------------
step "apt-get purge: conffiles and enable state are gone"
apt_get purge "$pkg"
[ "$(package_status)" = not-installed ] || fail "after purge: $(package_status)"
for f in $mods/sinch_reminder.load $mods/sinch_reminder.conf $enabled/sinch_reminder.load \
  /var/lib/apache2/module/*/sinch_reminder /usr/share/mod_sinch_reminder /usr/sbin/sinch-reminder-admin; do
  [ ! -e "$f" ] || fail "$f is still there after purge"
done
installed=0
apache2ctl configtest
