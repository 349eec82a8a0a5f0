"""SinchReminderCaFile against a real TLS server (issue 15, docs/production.md section 6): the Sinch fake serves
HTTPS with a certificate from a throwaway private CA (a hospital's own, or a TLS-inspecting proxy's). With
SinchReminderCaFile naming that CA the OAuth token request and the batch go over TLS; without it, with another
CA, or under a host name the certificate does not carry, the hand-over fails with curl's certificate error in
the reminder and the error log, and the fake receives nothing: the module never turns verification off."""
import os
import shutil
import subprocess
import tempfile

import harness
from harness import Browser, Database, Httpd, HttpdTestCase, form_for, tomorrow_at, wait_until


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_ca(directory, name):
    """A self-signed CA certificate and key (EC P-256) in directory: (cert, key)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory)
    return os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")


def make_server_certificate(directory, ca_name):
    """A certificate for IP 127.0.0.1 (only), signed by the CA ca_name: (cert, key)."""
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=directory)
    openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca_name}.pem", "-CAkey", f"{ca_name}.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=directory)
    return os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")


def tls_conf(database, base_url, ca_file=None):
    """Project (OAuth2) credentials, so the token request goes over TLS as well as the batch."""
    lines = [
        f'SinchReminderDatabase "{database}"',
        "SinchReminderTimeZone America/New_York",
        "SinchReminderDefaultCountry US",
        "SinchReminderProjectId test-project",
        "SinchReminderKeyId test-key",
        "SinchReminderKeySecret test-secret",
        "SinchReminderTemplateDir templates",
        'SinchReminderClinicName "Riverside Clinic"',
        "SinchReminderCookieSecure Off",
        "SinchReminderFrom +12025550100",
        "SinchReminderAllowAnonymous On",
        f"SinchReminderSmsBaseUrl {base_url}",
        f"SinchReminderAuthBaseUrl {base_url}",
        "SinchReminderDispatchInterval 1s",
        "SinchReminderRetryDelay 1s",
    ]
    if ca_file:
        lines.append(f'SinchReminderCaFile "{ca_file}"')
    lines.append('<Location "/appointment">\n  SetHandler sinch-reminder\n</Location>')
    return "\n".join(lines)


class PrivateCaTest(HttpdTestCase):
    @classmethod
    def setUpClass(cls):
        # World-readable: httpd's workers (nobody) read the CA file at every new TLS connection.
        cls.pki = tempfile.mkdtemp(prefix="sr-pki-")
        os.chmod(cls.pki, 0o755)
        cls.ca, _ = make_ca(cls.pki, "Hospital-Private-CA")
        cls.other_ca, _ = make_ca(cls.pki, "Some-Other-CA")
        certificate, key = make_server_certificate(cls.pki, "Hospital-Private-CA")
        for name in os.listdir(cls.pki):
            os.chmod(os.path.join(cls.pki, name), 0o644)
        cls.fake = harness.SinchFake(tls=(certificate, key, cls.ca))
        assert cls.fake.url.startswith("https://127.0.0.1:"), cls.fake.url

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.fake.control("POST", "/_fake/reset")
        self.database = Database()

    def tearDown(self):
        if self.httpd is not None:
            self.httpd.cleanup()
            self.httpd = None
        self.database.drop()

    def book(self, conf):
        self.httpd = Httpd(conf)
        self.httpd.start()
        status, _, body = Browser(self.httpd).submit(form_for(tomorrow_at(14, 30)))
        self.assertEqual(status, 303, body[:2000])

    def reminder(self):
        rows = self.database.query("SELECT status, coalesce(last_error_text, '') FROM reminders")
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def assert_refused(self, conf, curl_error):
        """The hand-over fails on the certificate, says so, and nothing reaches the fake."""
        self.book(conf)
        failed = wait_until(lambda: self.reminder()[1])
        self.assertTrue(failed, f"the reminder never recorded an error: {self.reminder()}")
        status, error = self.reminder()
        self.assertNotEqual(status, "scheduled")
        self.assertIn(curl_error, error)
        self.assertIn("(curl error 60)", error)  # CURLE_PEER_FAILED_VERIFICATION
        self.assertIn(curl_error, self.httpd.read_error_log())
        # Not one HTTP request got through the handshake: no token request, no batch.
        self.assertEqual(self.fake.requests(), [])
        self.assertEqual(self.fake.batches(), [])

    def test_with_the_hospital_ca_the_token_request_and_the_batch_go_over_tls(self):
        self.book(tls_conf(self.database.conninfo, self.fake.url, ca_file=self.ca))
        self.assertTrue(wait_until(lambda: self.reminder()[0] == "scheduled"), self.reminder())
        requests = self.fake.requests()
        token = [r for r in requests if r["path"] == "/oauth2/token"]
        batches = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/batches")]
        self.assertTrue(token, requests)
        self.assertEqual(len(batches), 1, requests)
        self.assertEqual(batches[0]["path"], "/xms/v1/test-project/batches")
        for request in token + batches:
            self.assertIn(request["tls"], ("TLSv1.2", "TLSv1.3"), request)
        self.assertEqual(len(self.fake.batches()), 1)

    def test_without_the_ca_file_the_system_bundle_refuses_the_private_certificate(self):
        self.assert_refused(tls_conf(self.database.conninfo, self.fake.url),
                            "SSL certificate problem: unable to get local issuer certificate")

    def test_with_another_ca_the_certificate_is_refused(self):
        self.assert_refused(tls_conf(self.database.conninfo, self.fake.url, ca_file=self.other_ca),
                            "SSL certificate problem: unable to get local issuer certificate")

    def test_the_host_name_is_checked_too(self):
        # The right CA, but the certificate names IP 127.0.0.1 only, not "localhost".
        url = self.fake.url.replace("127.0.0.1", "localhost")
        self.assert_refused(tls_conf(self.database.conninfo, url, ca_file=self.ca),
                            "no alternative certificate subject name matches target host name 'localhost'")


if __name__ == "__main__":
    harness.main()
